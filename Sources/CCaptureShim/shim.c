#define _GNU_SOURCE
#include "capture_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int capture_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}

int capture_add_seals(int fd, int seals) { return fcntl(fd, F_ADD_SEALS, seals); }
int capture_get_seals(int fd) { return fcntl(fd, F_GET_SEALS); }

int capture_mlock(const void *addr, size_t len) { return (int)syscall(SYS_mlock, addr, len); }

int capture_munlock(const void *addr, size_t len) { return (int)syscall(SYS_munlock, addr, len); }
int capture_madvise(void *addr, size_t len, int advice) { return (int)syscall(SYS_madvise, addr, len, advice); }

int capture_memlock_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return -1;
    *soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    *hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
    return 0;
}

#define CAPTURE_MAX_FDS 16

ssize_t capture_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { char buf[CMSG_SPACE(sizeof(int) * CAPTURE_MAX_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > CAPTURE_MAX_FDS) { errno = EINVAL; return -1; }
    if (nfds > 0) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(sock, &msg, flags);
}

ssize_t capture_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int maxfds, int *nfds,
                              int *msg_flags, int flags) {
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union { char buf[CMSG_SPACE(sizeof(int) * CAPTURE_MAX_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
    *nfds = 0;
    ssize_t n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    *msg_flags = msg.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *in = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*nfds < maxfds) fds[(*nfds)++] = in[i];
            else close(in[i]);  /* more than the caller can own: never leak one */
        }
    }
    return n;
}

int capture_peer_credentials(int sock, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid; *uid = cred.uid; *gid = cred.gid;
    return 0;
}

int capture_peer_groups(int sock, uint32_t *gids, int max) {
    socklen_t len = (socklen_t)(sizeof(uint32_t) * (size_t)max);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, gids, &len) != 0) return -1;
    return (int)(len / sizeof(uint32_t));
}

static int fill_sun(struct sockaddr_un *sun, const char *path) {
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) { errno = ENAMETOOLONG; return -1; }
    strcpy(sun->sun_path, path);
    return 0;
}

int capture_unix_bind(int sock, const char *path) {
    struct sockaddr_un sun;
    if (fill_sun(&sun, path) != 0) return -1;
    return bind(sock, (struct sockaddr *)&sun, sizeof(sun));
}

int capture_unix_connect(int sock, const char *path) {
    struct sockaddr_un sun;
    if (fill_sun(&sun, path) != 0) return -1;
    return connect(sock, (struct sockaddr *)&sun, sizeof(sun));
}

int capture_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
int capture_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
int capture_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK); }
int capture_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

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

int capture_sleep_until(uint64_t deadline_ns) {
    struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
                           .tv_nsec = (long)(deadline_ns % 1000000000ULL) };
    int r;
    while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR) {}
    return r == 0 ? 0 : -1;
}

uint64_t capture_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int capture_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }

int capture_uffd_open(uint64_t *features, int *errno_out, const char **failed_call) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
        int first = errno;
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            int e = errno;
            close(dev);
            errno = e;
        }
        if (fd < 0) {
            *errno_out = first;
            *failed_call = "userfaultfd(UFFD_USER_MODE_ONLY)";
            return -1;
        }
    }
    uint64_t want = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MISSING_HUGETLBFS |
                    UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
    uint64_t optional[] = { UFFD_FEATURE_MINOR_SHMEM, UFFD_FEATURE_MINOR_HUGETLBFS,
                            UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
    /* UFFDIO_API may be called once per fd: ask what the kernel has, then open again with it. */
    struct uffdio_api probe = { .api = UFFD_API, .features = 0 };
    if (ioctl(fd, UFFDIO_API, &probe) != 0) {
        *errno_out = errno; *failed_call = "ioctl(UFFDIO_API)"; close(fd); return -1;
    }
    close(fd);
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
        if (probe.features & optional[i]) want |= optional[i];
    want &= probe.features;
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) { fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK); close(dev); }
        if (fd < 0) { *errno_out = errno; *failed_call = "userfaultfd"; return -1; }
    }
    struct uffdio_api api = { .api = UFFD_API, .features = want };
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        *errno_out = errno; *failed_call = "ioctl(UFFDIO_API)"; close(fd); return -1;
    }
    *features = api.features;
    return fd;
}

int capture_uffd_register(int fd, void *start, uint64_t len, uint64_t modes) {
    struct uffdio_register reg = { .range = { .start = (uint64_t)(uintptr_t)start, .len = len }, .mode = 0 };
    if (modes & CAPTURE_UFFD_MODE_MISSING) reg.mode |= UFFDIO_REGISTER_MODE_MISSING;
    if (modes & CAPTURE_UFFD_MODE_WP) reg.mode |= UFFDIO_REGISTER_MODE_WP;
    if (modes & CAPTURE_UFFD_MODE_MINOR) reg.mode |= UFFDIO_REGISTER_MODE_MINOR;
    return ioctl(fd, UFFDIO_REGISTER, &reg);
}

int capture_uffd_unregister(int fd, void *start, uint64_t len) {
    struct uffdio_range range = { .start = (uint64_t)(uintptr_t)start, .len = len };
    return ioctl(fd, UFFDIO_UNREGISTER, &range);
}

int capture_uffd_writeprotect(int fd, void *start, uint64_t len, int protect) {
    struct uffdio_writeprotect wp = { .range = { .start = (uint64_t)(uintptr_t)start, .len = len },
                                      .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0 };
    return ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
}

int capture_uffd_continue(int fd, uint64_t page, uint64_t len) {
    struct uffdio_continue c = { .range = { .start = page, .len = len }, .mode = 0 };
    return ioctl(fd, UFFDIO_CONTINUE, &c);
}

int capture_uffd_zeropage(int fd, uint64_t page, uint64_t len) {
    struct uffdio_zeropage z = { .range = { .start = page, .len = len }, .mode = 0 };
    return ioctl(fd, UFFDIO_ZEROPAGE, &z);
}

int capture_uffd_read(int fd, struct capture_uffd_event *ev) {
    struct uffd_msg msg;
    ssize_t n = read(fd, &msg, sizeof(msg));
    if (n < 0) return (errno == EAGAIN) ? 0 : -1;
    if (n != (ssize_t)sizeof(msg)) { errno = EIO; return -1; }
    memset(ev, 0, sizeof(*ev));
    switch (msg.event) {
    case UFFD_EVENT_PAGEFAULT:
        ev->kind = 1;
        ev->address = msg.arg.pagefault.address;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) ev->fault_flags |= CAPTURE_UFFD_FAULT_WRITE;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ev->fault_flags |= CAPTURE_UFFD_FAULT_WP;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) ev->fault_flags |= CAPTURE_UFFD_FAULT_MINOR;
        break;
    case UFFD_EVENT_REMOVE:
        ev->kind = 2; ev->address = msg.arg.remove.start; ev->end = msg.arg.remove.end; break;
    case UFFD_EVENT_UNMAP:
        ev->kind = 3; ev->address = msg.arg.remove.start; ev->end = msg.arg.remove.end; break;
    default:
        ev->kind = 4; break;
    }
    return 1;
}

uint64_t capture_uffd_feature_minor_shmem(void) { return UFFD_FEATURE_MINOR_SHMEM; }
uint64_t capture_uffd_feature_minor_hugetlbfs(void) { return UFFD_FEATURE_MINOR_HUGETLBFS; }
uint64_t capture_uffd_feature_wp_shmem(void) { return UFFD_FEATURE_WP_HUGETLBFS_SHMEM; }

/* ---- pattern ------------------------------------------------------------- */
#define PATTERN_BASE 0x9E3779B97F4A7C15ULL
#define PATTERN_STEP 0xD1B54A32D192ED03ULL

uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence) {
    uint8_t *p = dst;
    uint64_t w = sequence * PATTERN_BASE;
    size_t words = len / 8, i;
    /* Fill in chunks that stay in L1/L2 so the CRC pass reads warm cache lines. */
    uLong crc = crc32(0L, Z_NULL, 0);
    const size_t chunk = 16384;
    for (size_t start = 0; start < words; start += chunk / 8) {
        size_t end = start + chunk / 8 < words ? start + chunk / 8 : words;
        for (i = start; i < end; i++) {
            uint64_t v = w + (uint64_t)i * PATTERN_STEP;
            memcpy(p + i * 8, &v, 8);
        }
        crc = crc32(crc, p + start * 8, (uInt)((end - start) * 8));
    }
    size_t tail = len - words * 8;
    if (tail) {
        uint64_t v = w + (uint64_t)words * PATTERN_STEP;
        memcpy(p + words * 8, &v, tail);   /* little-endian: the low bytes first */
        crc = crc32(crc, p + words * 8, (uInt)tail);
    }
    return (uint32_t)crc;
}

int64_t capture_pattern_check(const void *src, size_t len, uint64_t sequence) {
    const uint8_t *p = src;
    uint64_t w = sequence * PATTERN_BASE;
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t v = w + (uint64_t)i * PATTERN_STEP, got;
        memcpy(&got, p + i * 8, 8);
        if (got != v) {
            for (size_t b = 0; b < 8; b++)
                if (((got >> (8 * b)) & 0xff) != ((v >> (8 * b)) & 0xff)) return (int64_t)(i * 8 + b);
        }
    }
    size_t tail = len - words * 8;
    if (tail) {
        uint64_t v = w + (uint64_t)words * PATTERN_STEP;
        for (size_t b = 0; b < tail; b++)
            if (p[words * 8 + b] != ((v >> (8 * b)) & 0xff)) return (int64_t)(words * 8 + b);
    }
    return -1;
}

void capture_header_stamp(void *dst, size_t len, uint64_t sequence) {
    memcpy(dst, &sequence, len < 8 ? len : 8);
}

uint32_t capture_crc32(const void *src, size_t len) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const uint8_t *p = src;
    while (len > 0) {   /* zlib takes uInt lengths */
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        crc = crc32(crc, p, n);
        p += n; len -= n;
    }
    return (uint32_t)crc;
}
