/* Regular files: open(2) with O_DIRECT, fallocate(2). */
#ifndef CAPTURE_FILE_H
#define CAPTURE_FILE_H
#include <stdint.h>

/** open(path, flags, mode): open(2) is variadic, which Swift cannot call. */
int capture_open(const char *path, int flags, unsigned int mode);
/** O_DIRECT, which glibc defines only under _GNU_SOURCE. */
int capture_o_direct(void);
/** fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length): reserves blocks without growing the file. */
int capture_fallocate_keep_size(int fd, int64_t offset, int64_t length);
#endif
