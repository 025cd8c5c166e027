#include "capture_ioctl.h"

#include <sys/ioctl.h>

int capture_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
