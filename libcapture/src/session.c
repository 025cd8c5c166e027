/* One connection to captured: the socket, the Welcome, the ring it carries and the doorbell.
 * Reference-counted: the client holds one, every frame of the session another, so the ring
 * stays mapped for as long as any frame of it is held. */

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int unix_connect(const char *path, int *out) {
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sun.sun_path)) return fail(-ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(sun.sun_path, path);
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) return fail(-errno, "socket(AF_UNIX, SOCK_SEQPACKET): %s", strerror(errno));
    if (connect(sock, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = errno;
        close(sock);
        return fail(-e, "connect(%s): %s%s", path, strerror(e),
                    e == ENOENT || e == ECONNREFUSED ? "; is captured running? (systemctl start capture, or make run)" :
                    e == EACCES ? "; join group capture" : "");
    }
    *out = sock;
    return 0;
}

/* The daemon's answer: an Error becomes -CAPTURE_EREFUSED with its text, a close
 * -CAPTURE_EDAEMON_GONE. */
static int receive_reply(int sock, uint8_t *buffer, struct message *m, int *fds, int *nfds, const char *expecting) {
    struct pollfd p = { .fd = sock, .events = POLLIN };
    int ready;
    while ((ready = poll(&p, 1, WELCOME_TIMEOUT_MS)) < 0 && errno == EINTR) {}
    if (ready == 0) return fail(-CAPTURE_ETIMEDOUT, "captured did not answer within %d ms", WELCOME_TIMEOUT_MS);
    ssize_t n = receive_packet(sock, buffer, fds, nfds, false);
    if (n < 0) return n == -EAGAIN ? fail(-CAPTURE_EDAEMON_GONE, "no %s", expecting) : (int)n;
    if (n == 0) return fail(-CAPTURE_EDAEMON_GONE, "the connection was closed before %s", expecting);
    int r = decode(buffer, (size_t)n, m);
    if (r < 0) return r;
    if (m->type == MSG_ERROR)
        return fail(-CAPTURE_EREFUSED, "captured refused (code %u): %.*s", m->code, (int)m->text_length, m->text);
    return 0;
}

int session_open(const char *path, const char *stream, capture_mode mode, uint32_t max_leases, bool doorbell,
                 struct session **out) {
    size_t name = strlen(stream);
    if (name == 0 || name > 64) return fail(-EINVAL, "stream names are 1 to 64 bytes");
    uint8_t *buffer = malloc(MAX_MESSAGE_BYTES + 1);
    if (!buffer) return fail(-ENOMEM, "out of memory");
    int sock = -1, fds[2], nfds = 0, r;
    if ((r = unix_connect(path, &sock)) < 0) goto out;
    uint8_t hello[16 + 64];
    size_t n = encode_hello(hello, stream, (uint8_t)mode, doorbell ? 1 : 0, max_leases > 0xffff ? 0xffff : (uint16_t)max_leases);
    r = send_packet(sock, hello, n, false);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {  /* refused at accept: its reason is waiting */
        r = fail(r, "sendmsg(Hello): %s", strerror(-r));
        goto out;
    }
    struct message m;
    if ((r = receive_reply(sock, buffer, &m, fds, &nfds, "Welcome")) < 0) goto out;
    if (m.type != MSG_WELCOME) {
        r = fail(-CAPTURE_EPROTOCOL, "expected Welcome, got message type %u", m.type);
        goto out;
    }
    int expected = (m.flags & 1) ? 2 : 1;
    if (nfds != expected) {
        r = fail(-CAPTURE_EPROTOCOL, "Welcome carried %d descriptors, expected %d", nfds, expected);
        goto out;
    }
    struct ring *ring;
    r = ring_map(fds[0], &ring);
    close(fds[0]);            /* the mapping keeps the ring */
    fds[0] = -1;
    if (r < 0) goto out;
    if (ring->size != m.ring_bytes) {
        ring_release(ring);
        r = fail(-CAPTURE_EPROTOCOL, "Welcome says the ring has %llu bytes, the memfd %zu", (unsigned long long)m.ring_bytes, ring->size);
        goto out;
    }
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        ring_release(ring);
        r = fail(-ENOMEM, "out of memory");
        goto out;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->open, true);
    pthread_mutex_init(&s->send_lock, NULL);
    s->sock = sock;
    s->doorbell = expected == 2 ? fds[1] : -1;
    if (s->doorbell >= 0) fcntl(s->doorbell, F_SETFL, fcntl(s->doorbell, F_GETFL) | O_NONBLOCK); /* drained until EAGAIN */
    s->ring = ring;
    capture_stream_info *i = &s->info;
    memcpy(i->name, ring->name, sizeof(i->name) - 1);
    i->frame_bytes = ring->frame_bytes;
    i->slot_count = ring->slot_count;
    i->payload = ring->payload;
    i->mode = (capture_mode)m.mode;
    i->max_leases = m.max_leases;
    i->lease_timeout_ms = m.lease_timeout_ms;
    i->client_id = m.client_id;
    i->doorbell = s->doorbell >= 0;
    i->head_sequence = m.head_sequence;
    *out = s;
    free(buffer);
    return 0;
out:
    for (int k = 0; k < nfds; k++)
        if (fds[k] >= 0) close(fds[k]);
    if (sock >= 0) close(sock);
    free(buffer);
    return r;
}

void session_retain(struct session *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void session_release(struct session *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    close(s->sock);
    if (s->doorbell >= 0) close(s->doorbell);
    ring_release(s->ring);
    pthread_mutex_destroy(&s->send_lock);
    free(s);
}

int session_send(struct session *s, const void *bytes, size_t length, bool nonblocking) {
    if (!atomic_load(&s->open)) return -CAPTURE_EDAEMON_GONE;
    pthread_mutex_lock(&s->send_lock);
    int r = send_packet(s->sock, bytes, length, nonblocking);
    pthread_mutex_unlock(&s->send_lock);
    if (r == -EPIPE || r == -ECONNRESET) {
        atomic_store(&s->open, false);
        return -CAPTURE_EDAEMON_GONE;
    }
    return r;
}
