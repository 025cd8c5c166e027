/* AF_UNIX sockets: descriptors passed with SCM_RIGHTS, peer credentials, paths. */
#ifndef CAPTURE_SOCKET_H
#define CAPTURE_SOCKET_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** sendmsg(2) of one buffer with optional SCM_RIGHTS fds, MSG_NOSIGNAL|MSG_DONTWAIT as asked. */
ssize_t capture_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags);
/** recvmsg(2) into buf; received fds go to fds (up to maxfds, CLOEXEC; any beyond are closed),
 *  their count to *nfds, the message flags (MSG_TRUNC, MSG_CTRUNC) to *msg_flags. */
ssize_t capture_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int maxfds, int *nfds,
                              int *msg_flags, int flags);
/** getsockopt(SO_PEERCRED). */
int capture_peer_credentials(int sock, int32_t *pid, uint32_t *uid, uint32_t *gid);
/** getsockopt(SO_PEERGROUPS): supplementary groups of the peer; returns count or -1. */
int capture_peer_groups(int sock, uint32_t *gids, int max);
/** bind(2) or connect(2) on an AF_UNIX path (ENAMETOOLONG when it does not fit sun_path). */
int capture_unix_bind(int sock, const char *path);
int capture_unix_connect(int sock, const char *path);
/** accept4(SOCK_CLOEXEC | SOCK_NONBLOCK). */
int capture_accept(int listener);
/** ioctl request for the bytes a socket has sent that its peer has not read (TIOCOUTQ). */
#define CAPTURE_SIOCOUTQ 0x5411
#endif
