/* Memory: memfd and seals, locking, madvise, RLIMIT_MEMLOCK. */
#ifndef CAPTURE_MEMORY_H
#define CAPTURE_MEMORY_H
#include <stddef.h>
#include <stdint.h>

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
#define CAPTURE_F_SEAL_EXEC         0x0020   /* Linux 6.3+, added by MFD_NOEXEC_SEAL */

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

/** getrlimit(RLIMIT_MEMLOCK); RLIM_INFINITY comes back as UINT64_MAX. */
int capture_memlock_limit(uint64_t *soft, uint64_t *hard);
#endif
