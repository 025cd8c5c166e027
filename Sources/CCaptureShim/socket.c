#define _GNU_SOURCE
#include "capture_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

int capture_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }
