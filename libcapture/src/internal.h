/* libcapture's insides: the ring, a session, a frame, the client. Not installed. */
#ifndef CAPTURE_INTERNAL_H
#define CAPTURE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "capture/capture.h"

#define API __attribute__((visibility("default")))

/* ---- time and spinning ---- */

/** CLOCK_MONOTONIC in nanoseconds: deadlines and backoffs. */
static inline uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** One turn of a spin-wait: tells the CPU we are spinning (PAUSE), so the other thread of the
 *  core, and the power budget, are not taxed for it. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- errors (errors.c) ---- */

/** Records this thread's last message (printf-style) and returns `error` (negative). */
int fail(int error, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- the wire (wire.c): PROTOCOL.md §2-3 ---- */

enum { MSG_HELLO = 1, MSG_WELCOME, MSG_FRAMES, MSG_RELEASE, MSG_DROPPED, MSG_REVOKED, MSG_ERROR, MSG_GOODBYE,
       MSG_STATUS_REQUEST, MSG_STATUS_REPLY };
enum { CODE_NOT_LEASED = 9, GOODBYE_STREAM_DETACHED = 3 };
#define MAX_MESSAGE_BYTES 65536
#define MAX_BATCH 1024
#define MAX_TEXT 4096
/* How long a daemon may take to answer a Hello (ms). */
#define WELCOME_TIMEOUT_MS 10000

struct entry { uint32_t slot; uint64_t sequence; };

/* One message from the daemon, decoded. Pointers point into the receive buffer. */
struct message {
    uint16_t type;
    /* WELCOME */
    uint32_t client_id; uint8_t mode, flags; uint16_t max_leases; uint32_t lease_timeout_ms;
    uint64_t ring_bytes, head_sequence;
    /* FRAMES: count entries at `entries` (16 bytes each: u32 slot, u32 reserved, u64 sequence) */
    uint32_t count; const uint8_t *entries;
    /* DROPPED */
    uint64_t first, dropped; uint32_t reason;
    /* REVOKED */
    struct entry revoked;
    /* ERROR, GOODBYE: code or reason, text (not terminated) */
    uint32_t code; const char *text; size_t text_length;
    /* STATUS_REPLY */
    const uint8_t *json; size_t json_length;
};

size_t encode_hello(uint8_t *out, const char *stream, uint8_t mode, uint8_t flags, uint16_t max_leases);
size_t encode_release(uint8_t *out, const struct entry *entries, uint32_t count);
size_t encode_empty(uint8_t *out, uint16_t type);            /* StatusRequest, Goodbye(normal) */
/** Decodes a packet from the daemon; -CAPTURE_EPROTOCOL (with a message) when it is wrong. */
int decode(const uint8_t *packet, size_t length, struct message *m);
struct entry entry_at(const struct message *m, uint32_t i);

/** sendmsg(2), MSG_NOSIGNAL; 0 or -errno (-EAGAIN when `nonblocking` and full). */
int send_packet(int sock, const void *bytes, size_t length, bool nonblocking);
/** recvmsg(2) of one packet into `buffer` (MAX_MESSAGE_BYTES + 1) with up to 3 descriptors
 *  (any beyond are closed). Returns the length, 0 for a closed peer, -EAGAIN, or -errno. */
ssize_t receive_packet(int sock, uint8_t *buffer, int *fds, int *nfds, bool nonblocking);

/* ---- the ring (ring.c): PROTOCOL.md §4-5 ---- */

struct snapshot { uint64_t generation, sequence, length, timestamp; uint32_t flags, checksum; };

struct ring {
    atomic_int refs;
    const uint8_t *base;
    size_t size;
    uint64_t inode;            /* the memfd's: the same ring after a restart (a driver's, adopted) */
    uint32_t slot_count, payload;
    uint64_t frame_bytes, descriptors_offset, slots_offset, slot_stride;
    char name[33];
    capture_format format;
};

/** Maps `memfd` read-only and checks the header; the ring starts with one reference. */
int ring_map(int memfd, struct ring **ring);
void ring_retain(struct ring *ring);
void ring_release(struct ring *ring);
struct snapshot ring_snapshot(const struct ring *ring, uint32_t slot);
bool ring_still_intact(const struct ring *ring, uint32_t slot, uint64_t generation);
/** Slot `slot`'s generation once the device has decided about it (PROTOCOL.md §5.2): while it
 *  is `generation` + 1 the device has marked the slot and may yet give it back to a hold, so
 *  this waits (spinning, then yielding; at most a second) for the device to put `generation`
 *  back or go on filling. A holder's answer, not a reader's guess. */
uint64_t ring_await_decision(const struct ring *ring, uint32_t slot, uint64_t generation);
/** The newest frame the ring head names (acquire). */
void ring_head(const struct ring *ring, uint64_t *sequence, uint64_t *slot);
/** Whether the device logged frame `sequence` as never captured (the header's gap log):
 *  1 yes, 0 no, -1 too old for the log to say. */
int ring_device_missed(const struct ring *ring, uint64_t sequence);
const uint8_t *ring_payload(const struct ring *ring, uint32_t slot);

/* ---- a session (session.c): one connection and what it owns ---- */

/* Hello flags (PROTOCOL.md §3.1). */
#define HELLO_DOORBELL 1
#define HELLO_SELF_SERVE 2

struct session {
    atomic_int refs;
    int sock;                  /* closed when the last reference goes */
    int doorbell;              /* -1: none */
    atomic_bool bell_rang;     /* rang, not reset yet: reset once its frames are taken (step()) */
    /* Self-serve leases (§5.2): this session's holds page, mapped read-write (NULL: the daemon
     * grants leases by message). Entries are written by take_self_served() under the client's
     * lock and cleared by whoever releases the frame, with a compare-and-swap. */
    uint64_t *held;            /* the page's held[] */
    void *holds_page;          /* the mapping, unmapped when the last reference goes */
    uint32_t holds_limit;      /* entries the device honours */
    uint64_t examined;         /* newest sequence looked at (client lock) */
    struct found { uint64_t sequence; uint32_t slot; struct snapshot snap; } *found; /* slot_count scratch */
    pthread_mutex_t send_lock; /* one sender at a time (releases come from any thread) */
    atomic_bool open;          /* false once the daemon went away or the client closed */
    struct ring *ring;
    capture_stream_info info;
};

/** socket(AF_UNIX, SOCK_SEQPACKET) and connect(2) to `path`; errors say what to do. */
int unix_connect(const char *path, int *sock);
/** Connects to `path` and says Hello, without waiting for the answer: *sock is the socket. */
int session_begin(const char *path, const char *stream, capture_mode mode, uint32_t max_leases, uint8_t hello_flags, int *sock);
/** Takes the Welcome on `sock` (which it owns from now on: closed on failure) and maps the ring. */
int session_finish(int sock, struct session **out);
/** Connects to `path`, says Hello, takes the Welcome and maps the ring. */
int session_open(const char *path, const char *stream, capture_mode mode, uint32_t max_leases, uint8_t hello_flags,
                 struct session **out);
/** Self-serve: stores a hold on `sequence` in a free entry; returns the entry, or -1 when all
 *  `holds_limit` are taken. Call with the client's lock held (claims must not race), and issue
 *  a sequentially consistent fence before looking at the slot (§5.2: the device marks, then
 *  checks the holds). */
int session_hold(struct session *s, uint64_t sequence);
/** Clears entry `entry` if it still holds `sequence` (a release, a revocation). */
void session_unhold(struct session *s, int entry, uint64_t sequence);
void session_retain(struct session *s);
void session_release(struct session *s);
/** Sends under the session's lock; marks it closed when the peer is gone. */
int session_send(struct session *s, const void *bytes, size_t length, bool nonblocking);

/* ---- a frame (frame.c) ---- */

struct capture_frame {
    struct session *session;   /* a reference: keeps the ring mapped, carries Release */
    struct snapshot snap;
    uint64_t sequence;
    uint32_t slot;
    bool leased;
    int hold;                  /* self-serve: the holds entry of this lease; -1: none */
};

capture_frame *frame_new(struct session *s, uint32_t slot, uint64_t sequence, const struct snapshot *snap, bool leased);

/* ---- the client (client.c) ---- */

/** The default socket path: $CAPTURE_SOCKET, /run/capture/capture.sock for root, else
 *  $XDG_RUNTIME_DIR/capture/capture.sock, else /tmp/capture-UID/capture.sock. */
void default_socket_path(char *buffer, size_t size);

#endif
