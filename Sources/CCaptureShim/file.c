#define _GNU_SOURCE
#include "capture_file.h"

#include <fcntl.h>

int capture_open(const char *path, int flags, unsigned int mode) { return open(path, flags, (mode_t)mode); }

int capture_o_direct(void) { return O_DIRECT; }

int capture_fallocate_keep_size(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}
