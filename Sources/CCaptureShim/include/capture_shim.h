/* C shims for capture: what Swift cannot import directly (variadic calls, packed or
 * union structs, macros with casts), atomics on shared memory, and the hot loops. */
#ifndef CAPTURE_SHIM_H
#define CAPTURE_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- memfd and seals ---------------------------------------------------- */
#define CAPTURE_MFD_CLOEXEC        0x0001U
#define CAPTURE_MFD_ALLOW_SEALING  0x0002U
#define CAPTURE_MFD_HUGETLB        0x0004U
#define CAPTURE_MFD_NOEXEC_SEAL    0x0008U   /* Linux 6.3+; EINVAL on older kernels */
#define CAPTURE_MFD_HUGE_2MB       (21U << 26)
#define CAPTURE_MFD_HUGE_1GB       (30U << 26)

#define CAPTURE_F_SEAL_SEAL         0x0001
#define CAPTURE_F_SEAL_SHRINK       0x0002
#define CAPTURE_F_SEAL_GROW         0x0004
#define CAPTURE_F_SEAL_WRITE        0x0008
#define CAPTURE_F_SEAL_FUTURE_WRITE 0x0010

/** memfd_create(2) through syscall(2), so the flags above work on any libc. */
int capture_memfd_create(const char *name, unsigned int flags);
/** fcntl(fd, F_ADD_SEALS, seals). */
int capture_add_seals(int fd, int seals);
/** fcntl(fd, F_GET_SEALS). */
int capture_get_seals(int fd);

/** mlock(2) by syscall(2): AddressSanitizer's interceptor makes mlock() a no-op, which would
 *  make a sanitizer build lie about what is locked. */
int capture_mlock(const void *addr, size_t len);
/** munlock(2) by syscall(2), its counterpart (the residency guard's test unlocks a page). */
int capture_munlock(const void *addr, size_t len);

/** madvise(2) by syscall(2), for the same reason. */
int capture_madvise(void *addr, size_t len, int advice);

#define CAPTURE_MADV_POPULATE_WRITE 23

/* ---- limits -------------------------------------------------------------- */
/** getrlimit(RLIMIT_MEMLOCK); RLIM_INFINITY comes back as UINT64_MAX. */
int capture_memlock_limit(uint64_t *soft, uint64_t *hard);

/* ---- sockets ------------------------------------------------------------- */
/** sendmsg(2) of one buffer with optional SCM_RIGHTS fds, MSG_NOSIGNAL|MSG_DONTWAIT as asked. */
ssize_t capture_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags);
/** recvmsg(2) into buf; received fds go to fds (up to maxfds, CLOEXEC), their count to *nfds,
 *  the message flags (MSG_TRUNC, MSG_CTRUNC) to *msg_flags. */
ssize_t capture_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int maxfds, int *nfds,
                              int *msg_flags, int flags);
/** getsockopt(SO_PEERCRED). */
int capture_peer_credentials(int sock, int32_t *pid, uint32_t *uid, uint32_t *gid);
/** getsockopt(SO_PEERGROUPS): supplementary groups of the peer; returns count or -1. */
int capture_peer_groups(int sock, uint32_t *gids, int max);
/** ioctl request for the bytes a socket has sent that its peer has not read (TIOCOUTQ). */
#define CAPTURE_SIOCOUTQ 0x5411
/** bind(2)+listen(2) or connect(2) on an AF_UNIX path. */
int capture_unix_bind(int sock, const char *path);
int capture_unix_connect(int sock, const char *path);

/* ---- epoll (struct epoll_event is packed on x86_64) --------------------- */
#define CAPTURE_EPOLLIN    0x001U
#define CAPTURE_EPOLLOUT   0x004U
#define CAPTURE_EPOLLERR   0x008U
#define CAPTURE_EPOLLHUP   0x010U
#define CAPTURE_EPOLLRDHUP 0x2000U
/** epoll_create1(EPOLL_CLOEXEC). */
int capture_epoll_create(void);
/** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). */
int capture_eventfd(void);
/** pipe2(fds, O_CLOEXEC | O_NONBLOCK). */
int capture_pipe(int fds[2]);
/** accept4(SOCK_CLOEXEC | SOCK_NONBLOCK). */
int capture_accept(int listener);
int capture_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int capture_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);

/* ---- timers and signals -------------------------------------------------- */
/** timerfd_create(CLOCK_MONOTONIC) armed periodically every interval_ns. */
int capture_timerfd_periodic(uint64_t interval_ns);
/** Blocks SIGINT, SIGTERM, SIGHUP and returns a signalfd for them; ignores SIGPIPE. */
int capture_signalfd_terminate(void);
/** read(2) one signalfd_siginfo and return its signal number, or -1. */
int capture_signalfd_read(int fd);
/** ppoll(2) one fd for POLLIN with a nanosecond timeout (negative: forever).
 *  Returns 1 readable, 0 timeout, -1 error. */
int capture_wait_readable(int fd, int64_t timeout_ns);
/* ppoll(2) on two descriptors; returns a mask (1: fd0 ready, 2: fd1 ready), 0 on timeout, -1. */
int capture_wait_readable2(int fd0, int fd1, int64_t timeout_ns);
/** clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME). */
int capture_sleep_until(uint64_t deadline_ns);
uint64_t capture_monotonic_ns(void);

/* ---- ioctl --------------------------------------------------------------- */
int capture_ioctl(int fd, unsigned long request, void *arg);

/* ---- userfaultfd --------------------------------------------------------- */
#define CAPTURE_UFFD_MODE_MISSING 1ULL
#define CAPTURE_UFFD_MODE_WP      2ULL
#define CAPTURE_UFFD_MODE_MINOR   4ULL

struct capture_uffd_event {
    uint32_t kind;      /* 1 pagefault, 2 remove, 3 unmap, 4 other */
    uint32_t fault_flags; /* UFFD_PAGEFAULT_FLAG_* for page faults */
    uint64_t address;   /* fault address, or start of removed/unmapped range */
    uint64_t end;       /* end of removed/unmapped range */
};
#define CAPTURE_UFFD_FAULT_WRITE 1U
#define CAPTURE_UFFD_FAULT_WP    2U
#define CAPTURE_UFFD_FAULT_MINOR 4U

/** userfaultfd(2) with UFFD_USER_MODE_ONLY, falling back to /dev/userfaultfd.
 *  Then UFFDIO_API asking for the shmem features; *features gets what the kernel grants. */
int capture_uffd_open(uint64_t *features, int *errno_out, const char **failed_call);
/** UFFDIO_REGISTER on [start, start+len) with the given CAPTURE_UFFD_MODE_* bits. */
int capture_uffd_register(int fd, void *start, uint64_t len, uint64_t modes);
/** UFFDIO_UNREGISTER: must precede munmap of a guarded range, or munmap waits for the guard. */
int capture_uffd_unregister(int fd, void *start, uint64_t len);
/** UFFDIO_WRITEPROTECT on a range: protect (1) or unprotect (0). */
int capture_uffd_writeprotect(int fd, void *start, uint64_t len, int protect);
/** Resolve a minor fault (UFFDIO_CONTINUE) or a missing one (UFFDIO_ZEROPAGE) for one page. */
int capture_uffd_continue(int fd, uint64_t page, uint64_t len);
int capture_uffd_zeropage(int fd, uint64_t page, uint64_t len);
/** read(2) one uffd_msg. Returns 1 with an event, 0 when none is pending, -1 on error. */
int capture_uffd_read(int fd, struct capture_uffd_event *ev);
uint64_t capture_uffd_feature_minor_shmem(void);
uint64_t capture_uffd_feature_minor_hugetlbfs(void);
uint64_t capture_uffd_feature_wp_shmem(void);

/* ---- atomics on shared memory -------------------------------------------- */
static inline uint64_t capture_load_acquire_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline void capture_store_release_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint64_t capture_load_relaxed_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}
static inline void capture_store_relaxed_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}
static inline void capture_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void capture_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
/* A spin-wait hint (PAUSE on x86): polite to the sibling hyperthread and to the bus. */
static inline void capture_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* ---- the frame pattern and checksum (docs/PROTOCOL.md, "Payload") -------- */
/** Writes the `pattern` payload of frame `sequence`: little-endian 64-bit words
 *  w[i] = (sequence * 0x9E3779B97F4A7C15) + i * 0xD1B54A32D192ED03 (mod 2^64); a trailing
 *  partial word takes the low bytes of the next w[i]. Returns the CRC-32 of the bytes. */
uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence);
/** Index of the first byte that differs from the pattern of `sequence`, or -1 when all match. */
int64_t capture_pattern_check(const void *src, size_t len, uint64_t sequence);
/** The `header` payload: only the first 8 bytes, the little-endian sequence. */
void capture_header_stamp(void *dst, size_t len, uint64_t sequence);
/** CRC-32 (ISO-HDLC: the one of zlib, Python's zlib.crc32 and Ethernet). */
uint32_t capture_crc32(const void *src, size_t len);

#endif
