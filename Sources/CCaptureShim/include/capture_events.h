/* What an event loop waits on: epoll, eventfd, pipes, timerfd, signalfd, poll; the clock. */
#ifndef CAPTURE_EVENTS_H
#define CAPTURE_EVENTS_H
#include <stdint.h>

/* struct epoll_event is packed on x86_64, so Swift cannot use it directly. */
#define CAPTURE_EPOLLIN    0x001U
#define CAPTURE_EPOLLOUT   0x004U
#define CAPTURE_EPOLLERR   0x008U
#define CAPTURE_EPOLLHUP   0x010U
#define CAPTURE_EPOLLRDHUP 0x2000U
#define CAPTURE_EPOLL_CTL_ADD 1
#define CAPTURE_EPOLL_CTL_DEL 2
#define CAPTURE_EPOLL_CTL_MOD 3
/** epoll_create1(EPOLL_CLOEXEC). */
int capture_epoll_create(void);
/** epoll_ctl(2) with a 64-bit token as the event's data. */
int capture_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/** epoll_wait(2) into parallel arrays of tokens and events (at most 64). */
int capture_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);

/** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int capture_eventfd(void);
/** pipe2(fds, O_CLOEXEC | O_NONBLOCK). */
int capture_pipe(int fds[2]);
/** timerfd_create(CLOCK_MONOTONIC) armed periodically every interval_ns. */
int capture_timerfd_periodic(uint64_t interval_ns);
/** timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), not armed; reads block. */
int capture_timerfd_oneshot(void);
/** timerfd_settime(TFD_TIMER_ABSTIME): fires once at deadline_ns (> 0) of CLOCK_MONOTONIC. */
int capture_timerfd_arm_at(int fd, uint64_t deadline_ns);
/** Blocks SIGINT, SIGTERM, SIGHUP and returns a signalfd for them; ignores SIGPIPE. */
int capture_signalfd_terminate(void);
/** read(2) one signalfd_siginfo and return its signal number, or -1. */
int capture_signalfd_read(int fd);

/** ppoll(2) one fd for POLLIN with a nanosecond timeout (negative: forever).
 *  Returns 1 readable, 0 timeout, -1 error. */
int capture_wait_readable(int fd, int64_t timeout_ns);
/** ppoll(2) on two descriptors; returns a mask (1: fd0 ready, 2: fd1 ready), 0 on timeout, -1. */
int capture_wait_readable2(int fd0, int fd1, int64_t timeout_ns);

/** clock_gettime(CLOCK_MONOTONIC) in nanoseconds: the one clock of the project. */
uint64_t capture_monotonic_ns(void);

/* A spin-wait hint (PAUSE on x86): polite to the sibling hyperthread and to the bus. */
static inline void capture_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}
#endif
