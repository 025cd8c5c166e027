/* ioctl(2), which Swift cannot call (it is variadic). */
#ifndef CAPTURE_IOCTL_H
#define CAPTURE_IOCTL_H
int capture_ioctl(int fd, unsigned long request, void *arg);
#endif
