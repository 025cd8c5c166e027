/* The messages of PROTOCOL.md §2-3: little-endian, one per SOCK_SEQPACKET packet. */

#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static size_t header(uint8_t *out, uint16_t type, size_t length) {
    put16(out, type);
    put16(out + 2, 1);
    put32(out + 4, (uint32_t)length);
    return length;
}

size_t encode_hello(uint8_t *out, const char *stream, uint8_t mode, uint8_t flags, uint16_t max_leases) {
    size_t n = strlen(stream);
    memset(out, 0, 16);
    out[8] = mode;
    out[9] = flags;
    put16(out + 10, max_leases);
    put16(out + 12, (uint16_t)n);
    memcpy(out + 16, stream, n);
    return header(out, MSG_HELLO, 16 + n);
}

size_t encode_release(uint8_t *out, const struct entry *entries, uint32_t count) {
    memset(out, 0, 16 + 16 * (size_t)count);
    put32(out + 8, count);
    for (uint32_t i = 0; i < count; i++) {
        put32(out + 16 + 16 * i, entries[i].slot);
        put64(out + 24 + 16 * i, entries[i].sequence);
    }
    return header(out, MSG_RELEASE, 16 + 16 * (size_t)count);
}

size_t encode_empty(uint8_t *out, uint16_t type) {
    if (type == MSG_GOODBYE) {   /* reason 0 (normal), no text */
        memset(out, 0, 16);
        return header(out, MSG_GOODBYE, 16);
    }
    return header(out, type, 8);
}

struct entry entry_at(const struct message *m, uint32_t i) {
    const uint8_t *e = m->entries + 16 * (size_t)i;
    return (struct entry){ get32(e), get64(e + 8) };
}

static int wrong(const char *what, uint16_t type, size_t length) {
    return fail(-CAPTURE_EPROTOCOL, "message type %u of %zu bytes: %s", type, length, what);
}

int decode(const uint8_t *p, size_t n, struct message *m) {
    memset(m, 0, sizeof(*m));
    if (n < 8) return wrong("shorter than the 8-byte header", 0, n);
    m->type = get16(p);
    if (get16(p + 2) != 1) return wrong("protocol version is not 1", m->type, n);
    if (get32(p + 4) != n) return wrong("length field differs from the packet", m->type, n);
    switch (m->type) {
    case MSG_WELCOME:
        if (n != 40) return wrong("Welcome is 40 bytes", m->type, n);
        m->client_id = get32(p + 8);
        m->mode = p[12];
        m->flags = p[13];
        m->max_leases = get16(p + 14);
        m->lease_timeout_ms = get32(p + 16);
        m->ring_bytes = get64(p + 24);
        m->head_sequence = get64(p + 32);
        if (m->mode != CAPTURE_MODE_LEASE && m->mode != CAPTURE_MODE_LATEST) return wrong("unknown mode", m->type, n);
        return 0;
    case MSG_FRAMES:
        if (n < 16) return wrong("Frames is at least 16 bytes", m->type, n);
        m->count = get32(p + 8);
        if (m->count > MAX_BATCH || n != 16 + 16 * (size_t)m->count) return wrong("entry count does not match the length", m->type, n);
        m->entries = p + 16;
        return 0;
    case MSG_DROPPED:
        if (n != 40) return wrong("Dropped is 40 bytes", m->type, n);
        m->first = get64(p + 8);
        m->dropped = get64(p + 16);
        m->reason = get32(p + 24);
        if (m->reason < 1 || m->reason > 3) return wrong("unknown drop reason", m->type, n);
        if (m->dropped == 0 || m->first == 0 || m->first + m->dropped < m->first) return wrong("no frames, or past the last sequence", m->type, n);
        return 0;
    case MSG_REVOKED:
        if (n != 24) return wrong("LeaseRevoked is 24 bytes", m->type, n);
        m->revoked = (struct entry){ get32(p + 8), get64(p + 16) };
        return 0;
    case MSG_ERROR:
    case MSG_GOODBYE:
        if (n < 16 || n - 16 > MAX_TEXT) return wrong("text too long or header short", m->type, n);
        m->code = get32(p + 8);
        m->text = (const char *)p + 16;
        m->text_length = n - 16;
        return 0;
    case MSG_STATUS_REPLY:
        m->json = p + 8;
        m->json_length = n - 8;
        return 0;
    default:
        return wrong("not a message the daemon sends", m->type, n);
    }
}

int send_packet(int sock, const void *bytes, size_t length, bool nonblocking) {
    for (;;) {
        ssize_t r = send(sock, bytes, length, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
        if (r >= 0) return 0;
        if (errno == EINTR) continue;
        return -errno;
    }
}

ssize_t receive_packet(int sock, uint8_t *buffer, int *fds, int *nfds, bool nonblocking) {
    union { char buf[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } control;
    struct iovec iov = { .iov_base = buffer, .iov_len = MAX_MESSAGE_BYTES + 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
    *nfds = 0;
    for (;;) {
        ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == ECONNRESET) {
            /* The daemon closed with our messages unread; a last message it sent first (an
             * Error, a Goodbye) may still be there: one more look, without waiting. */
            r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
            if (r < 0) return 0;
        }
        if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int in[8];
            memcpy(in, CMSG_DATA(c), sizeof(int) * (size_t)count);
            for (int i = 0; i < count; i++) {
                if (*nfds < 3) fds[(*nfds)++] = in[i];
                else close(in[i]);   /* more than we take: never leak one */
            }
        }
        if ((msg.msg_flags & MSG_TRUNC) || r > MAX_MESSAGE_BYTES) {
            for (int i = 0; i < *nfds; i++) close(fds[i]);
            *nfds = 0;
            return fail(-CAPTURE_EPROTOCOL, "a message longer than %d bytes", MAX_MESSAGE_BYTES);
        }
        return r;
    }
}
