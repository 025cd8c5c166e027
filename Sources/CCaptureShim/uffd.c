#define _GNU_SOURCE
#include "capture_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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
        ev->kind = CAPTURE_UFFD_EVENT_PAGEFAULT;
        ev->address = msg.arg.pagefault.address;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) ev->fault_flags |= CAPTURE_UFFD_FAULT_WRITE;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ev->fault_flags |= CAPTURE_UFFD_FAULT_WP;
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) ev->fault_flags |= CAPTURE_UFFD_FAULT_MINOR;
        break;
    case UFFD_EVENT_REMOVE:
        ev->kind = CAPTURE_UFFD_EVENT_REMOVE; ev->address = msg.arg.remove.start; ev->end = msg.arg.remove.end; break;
    case UFFD_EVENT_UNMAP:
        ev->kind = CAPTURE_UFFD_EVENT_UNMAP; ev->address = msg.arg.remove.start; ev->end = msg.arg.remove.end; break;
    default:
        ev->kind = CAPTURE_UFFD_EVENT_OTHER; break;
    }
    return 1;
}

uint64_t capture_uffd_feature_minor_shmem(void) { return UFFD_FEATURE_MINOR_SHMEM; }
uint64_t capture_uffd_feature_minor_hugetlbfs(void) { return UFFD_FEATURE_MINOR_HUGETLBFS; }
uint64_t capture_uffd_feature_wp_shmem(void) { return UFFD_FEATURE_WP_HUGETLBFS_SHMEM; }
