/* userfaultfd(2): the residency guard's view of faults in the daemon's own mappings. */
#ifndef CAPTURE_UFFD_H
#define CAPTURE_UFFD_H
#include <stdint.h>

#define CAPTURE_UFFD_MODE_MISSING 1ULL
#define CAPTURE_UFFD_MODE_WP      2ULL
#define CAPTURE_UFFD_MODE_MINOR   4ULL

#define CAPTURE_UFFD_EVENT_PAGEFAULT 1
#define CAPTURE_UFFD_EVENT_REMOVE    2
#define CAPTURE_UFFD_EVENT_UNMAP     3
#define CAPTURE_UFFD_EVENT_OTHER     4

struct capture_uffd_event {
    uint32_t kind;      /* CAPTURE_UFFD_EVENT_* */
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
#endif
