#define _GNU_SOURCE
#include "capture_events.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int capture_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int capture_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data.u64 = data };
    return epoll_ctl(epfd, op, fd, &ev);
}

int capture_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { datas[i] = evs[i].data.u64; events[i] = evs[i].events; }
    return n;
}

int capture_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
int capture_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK); }

int capture_timerfd_periodic(uint64_t interval_ns) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) return -1;
    struct itimerspec its;
    its.it_interval.tv_sec = (time_t)(interval_ns / 1000000000ULL);
    its.it_interval.tv_nsec = (long)(interval_ns % 1000000000ULL);
    its.it_value = its.it_interval;
    if (timerfd_settime(fd, 0, &its, NULL) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

int capture_timerfd_oneshot(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC); }

int capture_timerfd_arm_at(int fd, uint64_t deadline_ns) {
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
    its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ULL);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

int capture_signalfd_terminate(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int capture_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof(si));
    if (n != (ssize_t)sizeof(si)) return -1;
    return (int)si.ssi_signo;
}

int capture_wait_readable(int fd, int64_t timeout_ns) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    int n = ppoll(&p, 1, tsp, NULL);
    if (n < 0) return -1;
    return n > 0 ? 1 : 0;
}

int capture_wait_readable2(int fd0, int fd1, int64_t timeout_ns) {
    struct pollfd p[2] = { { .fd = fd0, .events = POLLIN }, { .fd = fd1, .events = POLLIN } };
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    int n = ppoll(p, 2, tsp, NULL);
    if (n < 0) return -1;
    return (p[0].revents ? 1 : 0) | (p[1].revents ? 2 : 0);
}

uint64_t capture_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
