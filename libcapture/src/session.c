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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "capture_ring.h"
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

/* Maps a self-serve client's holds page read-write (PROTOCOL.md §5.2) and checks it. */
static int map_holds(int fd, void **out) {
    struct stat st;
    if (fstat(fd, &st) != 0) return fail(-errno, "fstat(holds page): %s", strerror(errno));
    if (st.st_size != CAPTURE_HOLDS_BYTES) return fail(-CAPTURE_EPROTOCOL, "the holds page is %lld bytes, not %d", (long long)st.st_size, CAPTURE_HOLDS_BYTES);
    void *page = mmap(NULL, CAPTURE_HOLDS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) return fail(-errno, "mmap(holds page, PROT_READ|PROT_WRITE, MAP_SHARED): %s", strerror(errno));
    const struct capture_holds *h = page;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != CAPTURE_HOLDS_MAGIC) {
        munmap(page, CAPTURE_HOLDS_BYTES);
        return fail(-CAPTURE_EPROTOCOL, "the holds page has no CAPHOLD1 magic");
    }
    *out = page;
    return 0;
}

int session_hold(struct session *s, uint64_t sequence) {
    /* Claims happen under the client's lock, so a free entry stays free until this store; a
     * release (any thread) only ever clears its own entry. A plain store, not a locked
     * exchange: the caller's sequentially consistent fence orders it before the look (§5.2). */
    for (uint32_t i = 0; i < s->holds_limit; i++) {
        if (__atomic_load_n(&s->held[i], __ATOMIC_RELAXED) == 0) {
            __atomic_store_n(&s->held[i], sequence, __ATOMIC_RELAXED);
            return (int)i;
        }
    }
    return -1;
}

void session_unhold(struct session *s, int entry, uint64_t sequence) {
    if (entry < 0 || (uint32_t)entry >= s->holds_limit) return;
    __atomic_compare_exchange_n(&s->held[entry], &sequence, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

int session_begin(const char *path, const char *stream, capture_mode mode, uint32_t max_leases, uint8_t hello_flags, int *out) {
    size_t name = strlen(stream);
    if (name == 0 || name > 64) return fail(-EINVAL, "stream names are 1 to 64 bytes");
    int sock = -1, r;
    if ((r = unix_connect(path, &sock)) < 0) return r;
    uint8_t hello[16 + 64];
    size_t n = encode_hello(hello, stream, (uint8_t)mode, hello_flags, max_leases > 0xffff ? 0xffff : (uint16_t)max_leases);
    r = send_packet(sock, hello, n, false);
    if (r < 0 && r != -EPIPE && r != -ECONNRESET) {  /* refused at accept: its reason is waiting */
        close(sock);
        return fail(r, "sendmsg(Hello): %s", strerror(-r));
    }
    *out = sock;
    return 0;
}

int session_open(const char *path, const char *stream, capture_mode mode, uint32_t max_leases, uint8_t hello_flags,
                 struct session **out) {
    int sock, r = session_begin(path, stream, mode, max_leases, hello_flags, &sock);
    return r < 0 ? r : session_finish(sock, out);
}

int session_finish(int sock, struct session **out) {
    uint8_t *buffer = malloc(MAX_MESSAGE_BYTES + 1);
    if (!buffer) {
        close(sock);
        return fail(-ENOMEM, "out of memory");
    }
    int fds[3], nfds = 0, r;
    void *holds = NULL;
    struct message m;
    if ((r = receive_reply(sock, buffer, &m, fds, &nfds, "Welcome")) < 0) goto out;
    if (m.type != MSG_WELCOME) {
        r = fail(-CAPTURE_EPROTOCOL, "expected Welcome, got message type %u", m.type);
        goto out;
    }
    /* The ring's memfd, then a doorbell, then a holds page (self-serve needs the doorbell). */
    bool bell = m.flags & HELLO_DOORBELL, self_serve = m.flags & HELLO_SELF_SERVE;
    int expected = 1 + bell + self_serve;
    if (nfds != expected || (self_serve && !bell)) {
        r = fail(-CAPTURE_EPROTOCOL, "Welcome carried %d descriptors, expected %d", nfds, expected);
        goto out;
    }
    if (self_serve) {
        r = map_holds(fds[2], &holds);
        close(fds[2]);        /* the mapping keeps the page */
        fds[2] = -1;
        if (r < 0) goto out;
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
    struct found *found = self_serve ? calloc(ring->slot_count, sizeof(*found)) : NULL;
    if (!s || (self_serve && !found)) {
        free(s);
        free(found);
        ring_release(ring);
        r = fail(-ENOMEM, "out of memory");
        goto out;
    }
    if (holds) {
        struct capture_holds *h = holds;
        s->holds_page = holds;
        s->held = (uint64_t *)h->held;
        uint32_t limit = __atomic_load_n(&h->limit, __ATOMIC_RELAXED);
        s->holds_limit = limit < m.max_leases ? limit : m.max_leases;
        if (s->holds_limit > CAPTURE_HOLDS_ENTRIES) s->holds_limit = CAPTURE_HOLDS_ENTRIES;
        s->examined = m.head_sequence;
        /* The device may stay quiet until `examined` reaches what it last rang for (§5.2). */
        __atomic_store_n(&h->examined, m.head_sequence, __ATOMIC_RELAXED);
        s->found = found;
        holds = NULL;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->open, true);
    pthread_mutex_init(&s->send_lock, NULL);
    s->sock = sock;
    s->doorbell = bell ? fds[1] : -1;
    if (s->doorbell >= 0) fcntl(s->doorbell, F_SETFL, fcntl(s->doorbell, F_GETFL) | O_NONBLOCK); /* drained without blocking */
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
    i->doorbell = s->held ? 2 : s->doorbell >= 0;
    i->head_sequence = m.head_sequence;
    *out = s;
    free(buffer);
    return 0;
out:
    if (holds) munmap(holds, CAPTURE_HOLDS_BYTES);
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
    if (s->holds_page) munmap(s->holds_page, CAPTURE_HOLDS_BYTES);  /* the daemon sees the entries no more once we are gone */
    free(s->found);
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
