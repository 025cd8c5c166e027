/* The client: a session with captured, the events it yields, waiting, doorbells, busy
 * polling, reconnecting. One lock guards the state; nothing waits on a descriptor while
 * holding it. */

#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "capture_ring.h"

enum { TOKEN_SOCKET = 1, TOKEN_DOORBELL = 2, TOKEN_WAKE = 3, TOKEN_RETRY = 4 };

struct capture_client {
    pthread_mutex_t lock;            /* everything below but `closed` */
    struct session *session;         /* the current one (a reference) */
    int epfd;                        /* capture_fd(): the session's socket and doorbell, and `wake` */
    int wake;                        /* eventfd: capture_wakeup() */
    int retry;                       /* timerfd: capture_dispatch() reconnecting, next attempt */
    capture_event *queue;            /* events read and not yet returned, a ring buffer */
    size_t head, count, capacity;
    capture_statistics stats;
    uint64_t last_sequence;          /* newest frame announced or reported dropped */
    uint64_t newest_taken;           /* newest frame taken from the ring head */
    capture_mode mode;
    uint32_t max_leases, flags, reconnect_ms;
    char stream[65];
    char path[256];
    uint8_t *buffer;                 /* one receive buffer */
    char *notice;                    /* the text of the last NOTICE returned */
    capture_format format;           /* capture_stream_format(): this session's */
    int pending;                     /* an error capture_next_frames() met, for the next call */
    char pending_message[512];
    uint64_t gone_since;             /* ms: when the daemon was first found gone (reconnecting) */
    int attempt;                     /* a reconnect attempt's socket, Hello said (-1: none) */
    uint64_t next_attempt, delay;    /* ms: the next attempt, and the backoff */
    atomic_bool closed;
};

static uint64_t now_ms(void) { return monotonic_ns() / 1000000; }

void default_socket_path(char *buffer, size_t size) {
    const char *env = getenv("CAPTURE_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
    if (env && *env) snprintf(buffer, size, "%s", env);
    else if (geteuid() == 0) snprintf(buffer, size, "/run/capture/capture.sock");
    else if (xdg && *xdg) snprintf(buffer, size, "%s/capture/capture.sock", xdg);
    else snprintf(buffer, size, "/tmp/capture-%u/capture.sock", (unsigned)geteuid());
}

API void capture_options_init(capture_options *o) {
    memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
    o->mode = CAPTURE_MODE_LEASE;
}

/* The caller's options, read only as far as its struct goes. */
static capture_options read_options(const capture_options *given) {
    capture_options o;
    capture_options_init(&o);
    if (given) {
        size_t n = given->struct_size < sizeof(o) ? given->struct_size : sizeof(o);
        memcpy(&o, given, n);
        o.struct_size = sizeof(o);
    }
    return o;
}

API const char *capture_socket_path(const capture_options *options, char *buffer, size_t size) {
    capture_options o = read_options(options);
    if (o.socket_path) snprintf(buffer, size, "%s", o.socket_path);
    else default_socket_path(buffer, size);
    return buffer;
}

/* ---- the event queue (caller holds the lock) ---- */

static int push(capture_client *c, capture_event ev) {
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 64;
        capture_event *q = malloc(capacity * sizeof(*q));
        if (!q) return fail(-ENOMEM, "out of memory");
        for (size_t i = 0; i < c->count; i++) q[i] = c->queue[(c->head + i) % c->capacity];
        free(c->queue);
        c->queue = q;
        c->head = 0;
        c->capacity = capacity;
    }
    c->queue[(c->head + c->count++) % c->capacity] = ev;
    return 0;
}

static capture_event pop(capture_client *c) {
    capture_event ev = c->queue[c->head];
    c->head = (c->head + 1) % c->capacity;
    c->count--;
    return ev;
}

/* ---- sessions coming and going ---- */

/* What Hello asks for: a doorbell in latest mode, self-serve leases in lease mode. */
static uint8_t hello_flags(const capture_client *c) {
    if (c->mode == CAPTURE_MODE_LATEST) return c->flags & CAPTURE_OPTION_NO_DOORBELL ? 0 : HELLO_DOORBELL;
    return c->flags & CAPTURE_OPTION_NO_SELF_SERVE ? 0 : HELLO_SELF_SERVE;
}

static void watch(capture_client *c, struct session *s) {
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = TOKEN_SOCKET };
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, s->sock, &e);
    if (s->doorbell >= 0) {
        e.data.u64 = TOKEN_DOORBELL;
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, s->doorbell, &e);
    }
}

static void unwatch(capture_client *c, struct session *s) {
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, s->sock, NULL);
    if (s->doorbell >= 0) epoll_ctl(c->epfd, EPOLL_CTL_DEL, s->doorbell, NULL);
}

API int capture_connect(const char *stream, const capture_options *options, capture_client **out) {
    capture_options o = read_options(options);
    if (o.mode != CAPTURE_MODE_LEASE && o.mode != CAPTURE_MODE_LATEST) return fail(-EINVAL, "mode must be lease or latest");
    capture_client *c = calloc(1, sizeof(*c));
    if (!c) return fail(-ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->closed, false);
    c->mode = o.mode;
    c->max_leases = o.max_leases;
    c->flags = o.flags;
    c->reconnect_ms = o.reconnect_ms;
    c->attempt = -1;
    c->delay = 50;
    snprintf(c->stream, sizeof(c->stream), "%s", stream);
    capture_socket_path(&o, c->path, sizeof(c->path));
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->retry = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    c->buffer = malloc(MAX_MESSAGE_BYTES + 1);
    int r = c->epfd < 0 || c->wake < 0 || c->retry < 0 ? fail(-errno, "epoll_create1/eventfd/timerfd_create: %s", strerror(errno))
          : !c->buffer ? fail(-ENOMEM, "out of memory") : 0;
    if (r == 0) {
        r = session_open(c->path, stream, c->mode, c->max_leases, hello_flags(c), &c->session);
    }
    if (r < 0) {
        if (c->epfd >= 0) close(c->epfd);
        if (c->wake >= 0) close(c->wake);
        if (c->retry >= 0) close(c->retry);
        free(c->buffer);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return r;
    }
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = TOKEN_WAKE };
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wake, &e);
    e.data.u64 = TOKEN_RETRY;
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->retry, &e);
    watch(c, c->session);
    c->newest_taken = c->session->info.head_sequence;
    c->format = c->session->ring->format;
    *out = c;
    return 0;
}

API void capture_close(capture_client *c) {
    if (!c) return;
    atomic_store(&c->closed, true);
    uint8_t goodbye[16];
    session_send(c->session, goodbye, encode_empty(goodbye, MSG_GOODBYE), true);
    /* The daemon gives every lease back on Goodbye, or when the connection ends: frames still
     * held must not release again, and the connection ends now even while frames keep the
     * socket (and the ring) alive. */
    atomic_store(&c->session->open, false);
    shutdown(c->session->sock, SHUT_RDWR);
    while (c->count) {
        capture_event ev = pop(c);
        if (ev.frame) { ev.frame->leased = false; capture_frame_release(ev.frame); }
        free((void *)(ev.type == CAPTURE_EVENT_NOTICE ? ev.text : NULL));
    }
    unwatch(c, c->session);
    session_release(c->session);
    if (c->attempt >= 0) close(c->attempt);
    close(c->epfd);
    close(c->wake);
    close(c->retry);
    free(c->queue);
    free(c->buffer);
    free(c->notice);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

API int capture_fd(capture_client *c) { return c->epfd; }

API void capture_wakeup(capture_client *c) {
    uint64_t one = 1;
    (void)!write(c->wake, &one, 8);
}

API const capture_format *capture_stream_format(capture_client *c) { return &c->format; }

API void capture_stream_info_get(capture_client *c, capture_stream_info *info) {
    pthread_mutex_lock(&c->lock);
    *info = c->session->info;
    pthread_mutex_unlock(&c->lock);
}

API void capture_statistics_get(capture_client *c, capture_statistics *st) {
    pthread_mutex_lock(&c->lock);
    *st = c->stats;
    pthread_mutex_unlock(&c->lock);
}

/* ---- what the daemon says (caller holds the lock) ---- */

/* A frame event, or the frame released again if it cannot be queued. */
static int push_frame(capture_client *c, capture_frame *f) {
    int r = push(c, (capture_event){ .type = CAPTURE_EVENT_FRAME, .frame = f });
    if (r < 0) {
        f->leased = false;   /* the session is ending with the error: the daemon takes it back */
        capture_frame_release(f);
        return r;
    }
    c->stats.frames++;
    return 0;
}

/* The daemon's message as events. */
static int accept_message(capture_client *c, struct session *s, const struct message *m) {
    struct ring *ring = s->ring;
    switch (m->type) {
    case MSG_FRAMES:
        for (uint32_t i = 0; i < m->count; i++) {
            struct entry e = entry_at(m, i);
            if (e.slot >= ring->slot_count) return fail(-CAPTURE_EPROTOCOL, "slot %u is outside the ring of %u", e.slot, ring->slot_count);
            if (e.sequence > c->last_sequence) c->last_sequence = e.sequence;
            struct snapshot snap = ring_snapshot(ring, e.slot);
            bool lease = s->info.mode == CAPTURE_MODE_LEASE;
            if (!lease && (snap.sequence != e.sequence || (snap.generation & 1))) {
                c->stats.overwritten++;   /* superseded before we looked */
                continue;
            }
            capture_frame *f = frame_new(s, e.slot, e.sequence, &snap, lease);
            if (!f) return fail(-ENOMEM, "out of memory");
            int r = push_frame(c, f);
            if (r < 0) return r;
        }
        return 0;
    case MSG_DROPPED:
        c->stats.dropped += m->dropped;
        if (m->first + m->dropped - 1 > c->last_sequence) c->last_sequence = m->first + m->dropped - 1;
        return push(c, (capture_event){ .type = CAPTURE_EVENT_DROPPED, .first_sequence = m->first, .count = m->dropped, .reason = m->reason });
    case MSG_REVOKED:
        if (s->held)   /* the device honours that entry no more: free it for the next frame */
            for (uint32_t i = 0; i < s->holds_limit; i++) session_unhold(s, (int)i, m->revoked.sequence);
        c->stats.revoked++;
        return push(c, (capture_event){ .type = CAPTURE_EVENT_REVOKED, .sequence = m->revoked.sequence, .slot = m->revoked.slot });
    case MSG_ERROR:
        if (m->code == CODE_NOT_LEASED) {
            char *text = strndup(m->text, m->text_length);
            int r = text ? push(c, (capture_event){ .type = CAPTURE_EVENT_NOTICE, .code = m->code, .text = text }) : -ENOMEM;
            if (r < 0) free(text);
            return r < 0 ? fail(r, "out of memory") : 0;
        }
        return fail(-CAPTURE_EREFUSED, "captured refused (code %u): %.*s", m->code, (int)m->text_length, m->text);
    case MSG_GOODBYE:
        if (m->code == GOODBYE_STREAM_DETACHED) return fail(-CAPTURE_EDETACHED, "stream detached: %.*s", (int)m->text_length, m->text);
        return fail(-CAPTURE_EDAEMON_GONE, "captured said goodbye: %.*s", (int)m->text_length, m->text);
    case MSG_STATUS_REPLY:
        return 0;
    default:
        return fail(-CAPTURE_EPROTOCOL, "captured sent message type %u to a client", m->type);
    }
}

/* Reads what the socket holds, without blocking, at most `most` packets (a flood cannot pin
 * us). Returns 0, or the error that ended the session (which marks it closed). */
static int drain_socket(capture_client *c, struct session *s, int most) {
    for (int i = 0; i < most; i++) {
        int fds[3], nfds = 0;
        ssize_t n = receive_packet(s->sock, c->buffer, fds, &nfds, true);
        for (int k = 0; k < nfds; k++) close(fds[k]);   /* none are expected after the Welcome */
        if (n == -EAGAIN) return 0;
        int r;
        if (n == 0) r = fail(-CAPTURE_EDAEMON_GONE, "captured closed the connection");
        else if (n == -CAPTURE_EPROTOCOL) r = (int)n;   /* receive_packet said what was wrong */
        else if (n < 0) r = fail((int)n, "recvmsg: %s", strerror((int)-n));
        else {
            struct message m;
            r = decode(c->buffer, (size_t)n, &m);
            if (r == 0) r = accept_message(c, s, &m);
        }
        if (r < 0) {
            atomic_store(&s->open, false);
            return r;
        }
    }
    return 0;
}

/* The newest frame the ring head names, if newer than the last one taken and stable. */
static capture_frame *take_newest(capture_client *c, struct session *s) {
    uint64_t sequence, slot;
    ring_head(s->ring, &sequence, &slot);
    if (sequence <= c->newest_taken || slot >= s->ring->slot_count) return NULL;
    struct snapshot snap = ring_snapshot(s->ring, (uint32_t)slot);
    if (snap.sequence != sequence || (snap.generation & 1)) return NULL;
    capture_frame *f = frame_new(s, (uint32_t)slot, sequence, &snap, false);
    if (!f) return NULL;
    c->newest_taken = sequence;
    if (sequence > c->last_sequence) c->last_sequence = sequence;
    return f;   /* uncounted: push_frame() or the busy poll counts it */
}

/* Frames first .. first+count-1 will never come: one event, merged into the previous one when
 * it continues it for the same reason. */
static int push_drop(capture_client *c, uint64_t first, uint64_t count, uint32_t reason) {
    c->stats.dropped += count;
    if (first + count - 1 > c->last_sequence) c->last_sequence = first + count - 1;
    if (c->count) {
        capture_event *last = &c->queue[(c->head + c->count - 1) % c->capacity];
        if (last->type == CAPTURE_EVENT_DROPPED && last->reason == reason && last->first_sequence + last->count == first) {
            last->count += count;
            return 0;
        }
    }
    return push(c, (capture_event){ .type = CAPTURE_EVENT_DROPPED, .first_sequence = first, .count = count, .reason = reason });
}

/* Frames next .. end-1 are not in the ring: the device never captured them (its gap log says
 * so), or it reused their slots before this client looked. */
static int push_missing(capture_client *c, struct session *s, uint64_t next, uint64_t end, uint64_t *recycled) {
    int r = 0;
    for (uint64_t q = next; q < end && r == 0; q++) {
        bool overrun = ring_device_missed(s->ring, q) != 0;   /* -1: too old to say; the device's, most likely */
        if (!overrun) ++*recycled;
        r = push_drop(c, q, 1, overrun ? CAPTURE_DROP_DEVICE_OVERRUN : CAPTURE_DROP_RECYCLED);
    }
    return r;
}

static int by_sequence(const void *a, const void *b) {
    uint64_t x = ((const struct found *)a)->sequence, y = ((const struct found *)b)->sequence;
    return x < y ? -1 : x > y;
}

/* Self-serve leases (PROTOCOL.md §5.2): every frame published since the last look, oldest
 * first, each held by storing its sequence in a free entry of the holds page and then checking
 * that the frame is still in its slot — the device marks a slot before it looks at the holds,
 * so one of the two sees the other. What cannot be taken becomes a drop with its cause.
 * Caller holds the lock. */
static int take_self_served(capture_client *c, struct session *s) {
    uint64_t head, head_slot;
    /* `examined` (stored by the last look), then the head: the device stores the head, then
     * reads `examined` to decide whether to ring (§5.2); one of the two sees the other. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    ring_head(s->ring, &head, &head_slot);
    if (head <= s->examined) return 0;
    uint32_t n = 0;
    struct snapshot newest = head_slot < s->ring->slot_count ? ring_snapshot(s->ring, (uint32_t)head_slot) : (struct snapshot){ 0 };
    if (head == s->examined + 1 && !(newest.generation & 1) && newest.sequence == head) {
        s->found[n++] = (struct found){ head, (uint32_t)head_slot, newest };   /* one new frame: where the head says */
    } else {
        for (uint32_t slot = 0; slot < s->ring->slot_count; slot++) {
            struct snapshot snap = ring_snapshot(s->ring, slot);
            if (!(snap.generation & 1) && snap.sequence > s->examined && snap.sequence <= head)
                s->found[n++] = (struct found){ snap.sequence, slot, snap };
        }
        qsort(s->found, n, sizeof(*s->found), by_sequence);
    }
    uint64_t next = s->examined + 1, recycled = 0;
    int r = 0;
    for (uint32_t k = 0; k < n && r == 0; k++) {
        struct found *f = &s->found[k];
        if (f->sequence < next) continue;   /* a descriptor that claims a sequence twice */
        if (f->sequence > next) r = push_missing(c, s, next, f->sequence, &recycled);
        next = f->sequence + 1;
        if (r) break;
        int entry = session_hold(s, f->sequence);
        if (entry < 0) {
            r = push_drop(c, f->sequence, 1, CAPTURE_DROP_LEASE_LIMIT);
            continue;
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the hold, then the look (§5.2) */
        /* The device may be deciding about this slot right now: it puts the generation back
         * when it sees our hold, or goes on to fill the slot. */
        struct snapshot now = ring_snapshot(s->ring, f->slot);
        if (now.generation == f->snap.generation + 1) {
            ring_await_decision(s->ring, f->slot, f->snap.generation);
            now = ring_snapshot(s->ring, f->slot);
        }
        if (now.generation != f->snap.generation || now.sequence != f->sequence) {
            session_unhold(s, entry, f->sequence);
            r = push_drop(c, f->sequence, 1, CAPTURE_DROP_RECYCLED);
            recycled++;
            continue;
        }
        capture_frame *frame = frame_new(s, f->slot, f->sequence, &now, true);
        if (!frame) {
            session_unhold(s, entry, f->sequence);
            r = fail(-ENOMEM, "out of memory");
            break;
        }
        frame->hold = entry;
        if (f->sequence > c->last_sequence) c->last_sequence = f->sequence;
        r = push_frame(c, frame);
    }
    if (r == 0 && next <= head) r = push_missing(c, s, next, head + 1, &recycled);
    /* The page's `examined` waits until this client is about to sleep (publish_examined()):
     * while it is awake the device need not ring it. */
    s->examined = head;
    struct capture_holds *h = (struct capture_holds *)s->holds_page;
    __atomic_store_n(&h->recycled, __atomic_load_n(&h->recycled, __ATOMIC_RELAXED) + recycled, __ATOMIC_RELAXED);
    return r;
}

/* Tells the device how far this self-serve client has looked, right before it reads the head
 * one last time and sleeps (§5.2): the device rings only a client whose `examined` reached the
 * frame it last rang for, so a client that stays awake is not rung. Caller holds the lock. */
static void publish_examined(struct session *s) {
    __atomic_store_n(&((struct capture_holds *)s->holds_page)->examined, s->examined, __ATOMIC_RELAXED);
}

/* What the device published since the last look, by the session's rule: self-serve leases,
 * or the newest frame (latest mode with a doorbell). Caller holds the lock. */
static int take_from_ring(capture_client *c, struct session *s) {
    if (s->held) return take_self_served(c, s);
    capture_frame *f = take_newest(c, s);
    return f ? push_frame(c, f) : 0;
}

/* take_from_ring(), for a caller that sleeps next if nothing came: a self-serve client that
 * found nothing new tells the device how far it looked, then looks once more (the store, a
 * fence, the head: §5.2). Caller holds the lock. */
static int take_before_sleep(capture_client *c, struct session *s) {
    int r = take_from_ring(c, s);
    if (r == 0 && !c->count && s->held) {
        publish_examined(s);
        r = take_from_ring(c, s);
    }
    return r;
}

/* take_from_ring() for capture_dispatch(): its caller polls capture_fd() next, after taking
 * whatever is queued, so it sleeps even when frames came; the store and the second look are
 * made either way. Caller holds the lock. */
static int take_before_poll(capture_client *c, struct session *s) {
    int r = take_from_ring(c, s);
    if (r == 0 && s->held) {
        publish_examined(s);
        r = take_from_ring(c, s);
    }
    return r;
}

/* Empties a non-blocking pipe or resets an eventfd: a short read means nothing was left. */
static void drain_fd(int fd) {
    uint8_t sink[256];
    while (read(fd, sink, sizeof(sink)) == (ssize_t)sizeof(sink)) {}
}

/* Puts `fresh` in place of `old`: the frames published meanwhile are reported as one drop.
 * Caller does not hold the lock. Returns 1, or < 0. */
static int install_session(capture_client *c, struct session *old, struct session *fresh) {
    pthread_mutex_lock(&c->lock);
    unwatch(c, old);
    c->session = fresh;
    watch(c, fresh);
    c->gone_since = 0;
    c->format = fresh->ring->format;
    /* The same ring (a driver's, adopted by the new daemon): the frames taken from it while
     * away are not new. Another ring numbers frames from 1 again. */
    bool same_ring = fresh->ring->inode == old->ring->inode;
    uint64_t head = fresh->info.head_sequence;
    if (same_ring && c->last_sequence > head) head = c->last_sequence;
    fresh->examined = head;
    if (fresh->holds_page) __atomic_store_n(&((struct capture_holds *)fresh->holds_page)->examined, head, __ATOMIC_RELAXED);
    c->newest_taken = head;
    c->stats.reconnects++;
    int r = 0;
    if (c->last_sequence > 0 && head > c->last_sequence) {
        uint64_t missed = head - c->last_sequence;
        c->stats.dropped += missed;
        r = push(c, (capture_event){ .type = CAPTURE_EVENT_DROPPED, .first_sequence = c->last_sequence + 1, .count = missed,
                                     .reason = CAPTURE_DROP_RECONNECT });
    }
    /* A daemon that made a new ring (synthetic streams) numbers frames from 1 again. */
    c->last_sequence = head;
    if (r == 0) r = push(c, (capture_event){ .type = CAPTURE_EVENT_RECONNECTED, .sequence = head });
    pthread_mutex_unlock(&c->lock);
    atomic_store(&old->open, false);
    session_release(old);   /* the client's reference; frames of the old session keep its ring */
    return r < 0 ? r : 1;
}

/* One attempt to connect again, waiting for the Welcome. 1: the new session is in place;
 * 0: not yet; < 0: an error. Caller does not hold the lock. */
static int try_reconnect(capture_client *c, struct session *old) {
    struct session *fresh;
    if (session_open(c->path, c->stream, c->mode, c->max_leases, hello_flags(c), &fresh) < 0) return 0;
    return install_session(c, old, fresh);
}

/* When the reconnect window (reconnect_ms from when the daemon was first found gone) ends. */
static uint64_t reconnect_until(capture_client *c, struct session *old) {
    pthread_mutex_lock(&c->lock);
    if (!c->gone_since) {
        c->gone_since = now_ms();
        unwatch(c, old);   /* a closed socket polls readable for ever */
    }
    uint64_t until = c->gone_since + c->reconnect_ms;
    pthread_mutex_unlock(&c->lock);
    return until;
}

/* Connects again with backoff (50 ms doubling to 1 s) until the reconnect window ends, or
 * `deadline` (ms; 0: none) — then the next call goes on trying. An attempt says Hello and
 * waits for the Welcome alongside the old session's doorbell: a client woken by the device
 * keeps taking frames from the ring it has while the daemon restarts (the device does not
 * stop, and the driver keeps the doorbell and holds for a grace period). Returns 0 when frames
 * were queued meanwhile (the caller returns them; the attempt goes on at the next call).
 * Caller does not hold the lock. */
static int reconnect(capture_client *c, struct session *old, uint64_t deadline) {
    uint64_t until = reconnect_until(c, old);
    while (!atomic_load(&c->closed)) {
        uint64_t now = now_ms();
        if (now >= until) break;
        if (deadline && now >= deadline) return fail(-CAPTURE_ETIMEDOUT, "captured is gone; still reconnecting");
        if (c->attempt < 0 && now >= c->next_attempt) {
            if (session_begin(c->path, c->stream, c->mode, c->max_leases, hello_flags(c), &c->attempt) < 0) c->attempt = -1;
            c->next_attempt = now + c->delay;
            c->delay = c->delay * 2 > 1000 ? 1000 : c->delay * 2;
        }
        pthread_mutex_lock(&c->lock);
        int r = old->doorbell >= 0 ? take_before_sleep(c, old) : 0;
        bool queued = c->count > 0;
        pthread_mutex_unlock(&c->lock);
        if (r < 0) return r;
        if (queued) return 0;
        uint64_t end = c->attempt >= 0 ? until : (c->next_attempt < until ? c->next_attempt : until);
        if (deadline && deadline < end) end = deadline;
        struct pollfd p[3] = { { .fd = c->wake, .events = POLLIN }, { .fd = c->attempt, .events = POLLIN }, { .fd = old->doorbell, .events = POLLIN } };
        if (poll(p, 3, end > now ? (int)(end - now) : 0) < 0 && errno == EINTR) return fail(-EINTR, "a signal arrived");
        if (p[0].revents) {
            drain_fd(c->wake);
            return fail(-CAPTURE_EWOKEN, "woken while reconnecting");
        }
        if (p[2].revents) drain_fd(old->doorbell);
        if (c->attempt >= 0 && p[1].revents) {
            struct session *fresh;
            int sock = c->attempt;
            c->attempt = -1;
            if (session_finish(sock, &fresh) == 0) {
                c->delay = 50;
                return install_session(c, old, fresh) < 0 ? -ENOMEM : 0;
            }
        }
    }
    return fail(-CAPTURE_EDAEMON_GONE, "captured went away and did not come back within %u ms", c->reconnect_ms);
}

/* The session ended with `r`: reconnect when that is what the user asked for. */
static int after_error(capture_client *c, struct session *s, int r, uint64_t deadline) {
    if (r == -CAPTURE_EDAEMON_GONE && c->reconnect_ms && !atomic_load(&c->closed) && s == c->session) return reconnect(c, s, deadline);
    return r;
}

/* ---- waiting ---- */

/* One step: what is queued, else the ring head (doorbell), else one packet from the socket.
 * With `wait_ms` not 0, waits for something first and reads the socket only if it is
 * readable: a frame costs one poll and one recvmsg. Returns 1 with an event, 0 with none,
 * < 0. `deadline` (ms, 0: none) bounds a reconnect. */
static int step(capture_client *c, int wait_ms, uint64_t deadline, capture_event *ev) {
    pthread_mutex_lock(&c->lock);
    free(c->notice);
    c->notice = NULL;
    struct session *s = c->session;
    int r = 0;
    if (!c->count && s->doorbell >= 0) {
        r = take_before_sleep(c, s);
        /* The bell is reset only after the frames it rang for were returned (a read(2) less
         * between the ring and the frame), and before the head is read again. */
        if (r == 0 && !c->count && atomic_exchange(&s->bell_rang, false)) {
            drain_fd(s->doorbell);
            r = take_from_ring(c, s);
        }
    }
    if (c->count) {
        *ev = pop(c);
        if (ev->type == CAPTURE_EVENT_NOTICE) c->notice = (char *)ev->text;
        pthread_mutex_unlock(&c->lock);
        return 1;
    }
    session_retain(s);
    if (r == 0 && c->pending) {   /* what ended the session during capture_next_frames() */
        r = fail(c->pending, "%s", c->pending_message);
        c->pending = 0;
    }
    pthread_mutex_unlock(&c->lock);
    bool readable = wait_ms == 0;   /* not waiting: look anyway */
    if (r == 0 && wait_ms != 0) {
        struct pollfd p[3] = { { .fd = s->sock, .events = POLLIN }, { .fd = c->wake, .events = POLLIN }, { .fd = s->doorbell, .events = POLLIN } };
        int n = poll(p, s->doorbell >= 0 ? 3 : 2, wait_ms);
        if (n < 0 && errno == EINTR) r = fail(-EINTR, "a signal arrived");
        if (n > 0) {
            readable = p[0].revents != 0;
            if (p[1].revents) { drain_fd(c->wake); r = fail(-CAPTURE_EWOKEN, "capture_wakeup()"); }
            if (s->doorbell >= 0 && p[2].revents) atomic_store(&s->bell_rang, true);
        }
    }
    int got = 0;
    if (r == 0 && readable) {
        pthread_mutex_lock(&c->lock);
        r = s == c->session ? drain_socket(c, s, 1) : 0;
        if (r == 0 && c->count) {   /* what that packet said, now: a timeout-0 call must not miss it */
            *ev = pop(c);
            if (ev->type == CAPTURE_EVENT_NOTICE) c->notice = (char *)ev->text;
            got = 1;
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (r < 0) r = after_error(c, s, r, deadline);
    session_release(s);
    return r < 0 ? r : got;
}

API int capture_next_event(capture_client *c, int timeout_ms, capture_event *ev) {
    uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
    for (;;) {
        int wait = timeout_ms < 0 ? -1 : 0;
        if (timeout_ms > 0) {
            uint64_t now = now_ms();
            wait = now >= deadline ? 0 : (int)(deadline - now);
        }
        int r = step(c, wait, deadline, ev);
        if (r != 0) return r < 0 ? r : 0;
        if (wait == 0) return fail(-CAPTURE_ETIMEDOUT, "no event within %d ms", timeout_ms);
    }
}

API int capture_next_frame(capture_client *c, int timeout_ms, capture_frame **frame) {
    capture_event ev;
    for (;;) {
        int r = capture_next_event(c, timeout_ms, &ev);
        if (r < 0) return r;
        if (ev.type == CAPTURE_EVENT_FRAME) {
            *frame = ev.frame;
            return 0;
        }
    }
}

API int capture_next_frames(capture_client *c, int timeout_ms, capture_frame **frames, size_t capacity) {
    if (capacity == 0) return fail(-EINVAL, "no room for a frame");
    int r = capture_next_frame(c, timeout_ms, &frames[0]);
    if (r < 0) return r;
    size_t n = 1;
    pthread_mutex_lock(&c->lock);
    if (c->count == 0 && !c->pending && atomic_load(&c->session->open) && c->session->doorbell < 0) {
        /* What already arrived (a client woken by the device gets no frames by message). An
         * error that ends the session waits for the next call. */
        r = drain_socket(c, c->session, 1);
        if (r < 0) {
            c->pending = r;
            snprintf(c->pending_message, sizeof(c->pending_message), "%s", capture_last_message());
        }
    }
    /* Every queued frame, oldest first; other events stay queued, in their order. */
    size_t kept = 0, count = c->count;
    for (size_t i = 0; i < count; i++) {
        capture_event ev = c->queue[(c->head + i) % c->capacity];
        if (ev.type == CAPTURE_EVENT_FRAME && n < capacity) frames[n++] = ev.frame;
        else c->queue[(c->head + kept++) % c->capacity] = ev;
    }
    c->count = kept;
    pthread_mutex_unlock(&c->lock);
    return (int)n;
}

API int capture_next_frame_busy_poll(capture_client *c, int timeout_ms, capture_frame **frame) {
    uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
    for (uint32_t spins = 1;; spins++) {
        pthread_mutex_lock(&c->lock);
        struct session *s = c->session;
        if (s->info.mode != CAPTURE_MODE_LATEST) {
            pthread_mutex_unlock(&c->lock);
            return fail(-CAPTURE_EMODE, "busy polling reads the newest frame: it needs latest mode");
        }
        capture_frame *f = take_newest(c, s);
        int r = 0;
        bool now_and_then = (spins & 4095) == 0;
        if (!f && now_and_then) {
            r = drain_socket(c, s, 64);
            /* The head supersedes announced frames: drop them uncounted; keep other events. */
            size_t kept = 0, count = c->count;
            for (size_t i = 0; i < count; i++) {
                capture_event ev = c->queue[(c->head + i) % c->capacity];
                if (ev.type == CAPTURE_EVENT_FRAME) {
                    c->stats.frames--;
                    capture_frame_release(ev.frame);
                } else {
                    c->queue[(c->head + kept++) % c->capacity] = ev;
                }
            }
            c->count = kept;
        }
        if (!f) session_retain(s);
        pthread_mutex_unlock(&c->lock);
        if (f) {
            pthread_mutex_lock(&c->lock);
            c->stats.frames++;
            pthread_mutex_unlock(&c->lock);
            *frame = f;
            return 0;
        }
        if (r == 0 && now_and_then) {
            uint64_t woken = 0;
            if (read(c->wake, &woken, sizeof(woken)) == sizeof(woken)) r = fail(-CAPTURE_EWOKEN, "capture_wakeup()");
            else if (timeout_ms >= 0 && now_ms() >= deadline) r = fail(-CAPTURE_ETIMEDOUT, "no frame within %d ms", timeout_ms);
        }
        if (r < 0) r = after_error(c, s, r, deadline);
        session_release(s);
        if (r < 0) return r;
        cpu_relax();
    }
}

API int capture_dispatch(capture_client *c) {
    drain_fd(c->wake);    /* capture_fd() polled readable for it; this call is the answer */
    drain_fd(c->retry);
    pthread_mutex_lock(&c->lock);
    struct session *s = c->session;
    int r = 0;
    if (atomic_load(&s->open)) {
        if (s->doorbell >= 0) {
            drain_fd(s->doorbell);
            r = take_before_poll(c, s);
        }
        if (r == 0) r = drain_socket(c, s, 64);
    } else if (c->reconnect_ms && c->gone_since) {
        r = -CAPTURE_EDAEMON_GONE;   /* still reconnecting: one more attempt now */
    }
    session_retain(s);
    pthread_mutex_unlock(&c->lock);
    if (r == -CAPTURE_EDAEMON_GONE && c->reconnect_ms && !atomic_load(&c->closed)) {
        /* Without blocking: one attempt, then the retry timer makes capture_fd() readable. */
        uint64_t until = reconnect_until(c, s);
        r = now_ms() >= until ? fail(-CAPTURE_EDAEMON_GONE, "captured went away and did not come back within %u ms", c->reconnect_ms)
                              : try_reconnect(c, s);
        if (r == 0) {
            struct itimerspec t = { .it_value = { .tv_nsec = 200 * 1000000 } };
            timerfd_settime(c->retry, 0, &t, NULL);
        }
    }
    pthread_mutex_lock(&c->lock);
    int queued = (int)c->count;
    pthread_mutex_unlock(&c->lock);
    session_release(s);
    return r < 0 ? r : queued;
}

/* ---- status ---- */

API int capture_status_json(const char *socket_path, char **json, size_t *length) {
    char path[256];
    capture_options o;
    capture_options_init(&o);
    o.socket_path = socket_path;
    capture_socket_path(&o, path, sizeof(path));
    uint8_t *buffer = malloc(MAX_MESSAGE_BYTES + 1);
    if (!buffer) return fail(-ENOMEM, "out of memory");
    int sock = -1, r = unix_connect(path, &sock);
    if (r == 0) {
        uint8_t request[8];
        r = send_packet(sock, request, encode_empty(request, MSG_STATUS_REQUEST), false);
        if (r == -EPIPE || r == -ECONNRESET) r = 0;   /* refused at accept: the reason is waiting */
        int fds[3], nfds = 0;
        ssize_t n = r < 0 ? r : receive_packet(sock, buffer, fds, &nfds, false);
        for (int k = 0; k < nfds; k++) close(fds[k]);
        struct message m;
        if (n == 0) r = fail(-CAPTURE_EDAEMON_GONE, "the connection was closed before the StatusReply");
        else if (n < 0) r = (int)n;
        else if ((r = decode(buffer, (size_t)n, &m)) == 0) {
            if (m.type == MSG_ERROR) r = fail(-CAPTURE_EREFUSED, "captured refused (code %u): %.*s", m.code, (int)m.text_length, m.text);
            else if (m.type != MSG_STATUS_REPLY) r = fail(-CAPTURE_EPROTOCOL, "expected a StatusReply, got message type %u", m.type);
            else if (!(*json = malloc(m.json_length + 1))) r = fail(-ENOMEM, "out of memory");
            else {
                memcpy(*json, m.json, m.json_length);
                (*json)[m.json_length] = 0;
                if (length) *length = m.json_length;
            }
        }
        close(sock);
    }
    free(buffer);
    return r;
}
