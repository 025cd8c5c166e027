#define _GNU_SOURCE
#include "capture_memory.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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
