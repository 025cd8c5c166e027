/*
 * libcapture: frames from captured, in C, C++ and anything that calls C (docs/PROTOCOL.md is
 * what it speaks). C11, nothing beyond libc and pthreads. pkg-config: capture.
 *
 *     capture_client *c;
 *     if (capture_connect("sim0", NULL, &c) < 0) ...          // lease mode, default socket
 *     capture_frame *f;
 *     while (capture_next_frame(c, -1, &f) == 0) {
 *         use(capture_frame_data(f), capture_frame_length(f));   // the ring's own pages
 *         capture_frame_release(f);                              // give the lease back
 *     }
 *     capture_close(c);
 *
 * Ownership. A capture_client is yours from capture_connect() until capture_close(). Every
 * capture_frame a call hands you is yours until you give it to capture_frame_release() (or
 * capture_release_frames()), exactly once. Its data pointer stays valid — the ring stays mapped
 * — until then, even after capture_close() and even after the daemon went away. In lease mode
 * the frame is also stable until then (unless the daemon revokes the lease after
 * lease_timeout_ms: you get a CAPTURE_EVENT_REVOKED; and not after capture_close() or the end of
 * the session, when the daemon takes every lease back); in latest mode it may be overwritten at
 * any moment, which capture_frame_intact() and capture_frame_check() detect.
 *
 * Threads. Every function may be called from any thread. One thread at a time should wait for
 * events (capture_next_*, capture_dispatch); frames may be released from any thread while it
 * waits, and capture_wakeup() makes its wait return early. capture_close() must not overlap
 * any other call on the same client (wake the waiting thread and let it return first).
 *
 * Errors. Functions that can fail return 0 (or a count) on success and a negative number on
 * failure: -errno for a failed system call (capture_last_message() names it), or one of the
 * negative CAPTURE_E* codes below. capture_strerror() describes either.
 */
#ifndef CAPTURE_CAPTURE_H
#define CAPTURE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAPTURE_VERSION_MAJOR 1
#define CAPTURE_VERSION_MINOR 0

/* ---- errors ---------------------------------------------------------------------------- */

enum capture_error {
    CAPTURE_EDAEMON_GONE = 1001, /* the daemon closed the connection: stopped, restarted, crashed */
    CAPTURE_EREFUSED = 1002,     /* the daemon refused (Error): capture_last_message() says why */
    CAPTURE_EDETACHED = 1003,    /* the stream's device went away (unplugged); the daemon goes on */
    CAPTURE_EPROTOCOL = 1004,    /* the daemon sent something this library does not understand */
    CAPTURE_ETIMEDOUT = 1005,    /* nothing arrived within the timeout */
    CAPTURE_EOVERWRITTEN = 1006, /* capture_frame_check: the frame was overwritten as it was read */
    CAPTURE_ECORRUPT = 1007,     /* capture_frame_check: the bytes are not what was published */
    CAPTURE_EMODE = 1008,        /* not possible in this mode (busy polling in lease mode) */
    CAPTURE_EWOKEN = 1009        /* capture_wakeup() ended the wait */
};

/** What `error` (a negative return value) means. Never NULL. */
const char *capture_strerror(int error);
/** The last error message of this thread: the daemon's refusal text, the failed call. */
const char *capture_last_message(void);

/* ---- connecting ------------------------------------------------------------------------ */

typedef struct capture_client capture_client;

typedef enum capture_mode {
    CAPTURE_MODE_LEASE = 1,  /* each frame is yours until you release it; the daemon keeps it */
    CAPTURE_MODE_LATEST = 2  /* no leases: the newest frame wins; overwrites are detected */
} capture_mode;

#define CAPTURE_OPTION_NO_DOORBELL (1u << 0) /* latest mode: be told of frames by messages */
#define CAPTURE_OPTION_NO_SELF_SERVE (1u << 1) /* lease mode: be granted leases by the daemon's
                                                 * messages even where the device would wake you
                                                 * and let you take them yourself (PROTOCOL.md §5.2) */

/* Versioned by size: set struct_size (capture_options_init does), and newer fields are read
 * only when the caller's struct has them. */
typedef struct capture_options {
    uint32_t struct_size;      /* sizeof(capture_options) */
    capture_mode mode;         /* default CAPTURE_MODE_LEASE */
    uint32_t max_leases;       /* lease mode: 0 = the stream's limit */
    uint32_t flags;            /* CAPTURE_OPTION_* */
    uint32_t reconnect_ms;     /* keep the session across daemon restarts, trying this long; 0 = do not */
    const char *socket_path;   /* NULL: $CAPTURE_SOCKET, else /run/capture/capture.sock (root) or
                                * $XDG_RUNTIME_DIR/capture/capture.sock */
} capture_options;

/** Fills `options` with the defaults (lease mode, the stream's lease limit, doorbell on). */
void capture_options_init(capture_options *options);

/** Connects to captured, says Hello for `stream`, maps the ring read-only. `options` may be
 *  NULL for the defaults. On success *client is yours (capture_close). Blocks. */
int capture_connect(const char *stream, const capture_options *options, capture_client **client);

/** Says Goodbye and frees the client; the daemon gives back every lease at once. Frames you
 *  still hold stay readable until you release them. NULL is ignored. */
void capture_close(capture_client *client);

/** The socket path `options` would use, into `buffer`. Returns `buffer`. */
const char *capture_socket_path(const capture_options *options, char *buffer, size_t size);

/* ---- what the stream holds ------------------------------------------------------------- */

#define CAPTURE_FORMAT_OPAQUE 0
#define CAPTURE_FORMAT_IMAGE 1
#define CAPTURE_FORMAT_SAMPLES 2

/* A stream's frames as an array: for an image, (height, width) or (height, width, channels)
 * of `dtype` values with row `stride`; for samples, `shape` of `dtype`. strides[] is bytes
 * per step in each dimension, so a NumPy array or a GStreamer video frame can be laid over a
 * frame's data without a copy. Opaque frames: ndim 1, shape[0] = frame bytes, dtype "|u1". */
typedef struct capture_format {
    uint32_t kind;             /* CAPTURE_FORMAT_* */
    char pixel_format[16];     /* image: GStreamer's name ("GRAY8", "BGRx", "bggr") */
    uint32_t width, height;    /* image */
    uint32_t stride;           /* image: bytes from one row to the next */
    uint32_t bytes_per_pixel;  /* image */
    char dtype[8];             /* NumPy typestr of one value: "|u1", "<u2", "<i2", "<f4" */
    uint32_t ndim;             /* 1..4 */
    uint64_t shape[4];
    uint64_t strides[4];
} capture_format;

typedef struct capture_stream_info {
    char name[32];
    uint64_t frame_bytes;      /* the largest frame a slot holds */
    uint32_t slot_count;
    uint32_t payload;          /* 0 raw, 1 pattern, 2 header, 3 image (PROTOCOL.md §6) */
    capture_mode mode;         /* granted */
    uint32_t max_leases;       /* granted (0 in latest mode) */
    uint32_t lease_timeout_ms;
    uint32_t client_id;        /* as `capturectl status` shows it */
    int doorbell;              /* 1: woken by the device itself; 2: and takes its own leases
                                * (lease mode on a device that recycles its slots, §5.2) */
    uint64_t head_sequence;    /* the newest frame when this session began */
} capture_stream_info;

/** What the stream holds. The pointer is valid until capture_close(); what it points to is
 *  refreshed after a reconnect (take it again after CAPTURE_EVENT_RECONNECTED). */
const capture_format *capture_stream_format(capture_client *client);
/** The session's stream and the terms it was granted. */
void capture_stream_info_get(capture_client *client, capture_stream_info *info);

/* ---- frames and events ----------------------------------------------------------------- */

typedef struct capture_frame capture_frame;

typedef enum capture_event_type {
    CAPTURE_EVENT_FRAME = 1,       /* `frame`: yours until capture_frame_release() */
    CAPTURE_EVENT_DROPPED = 2,     /* frames first_sequence .. +count-1 will never come: `reason` */
    CAPTURE_EVENT_REVOKED = 3,     /* the lease on `sequence` (in `slot`) was taken back */
    CAPTURE_EVENT_NOTICE = 4,      /* a non-fatal Error from the daemon: `code`, `text` */
    CAPTURE_EVENT_RECONNECTED = 5  /* a new session after a daemon restart; `sequence`: its head */
} capture_event_type;

#define CAPTURE_DROP_DEVICE_OVERRUN 1 /* the device had no slot: every client missed them */
#define CAPTURE_DROP_LEASE_LIMIT 2    /* you held max_leases frames */
#define CAPTURE_DROP_BACKLOG 3        /* reserved */
#define CAPTURE_DROP_RECONNECT 4      /* published while this client reconnected */
#define CAPTURE_DROP_RECYCLED 5       /* the device reused the slot before you could hold it */

typedef struct capture_event {
    capture_event_type type;
    capture_frame *frame;
    uint64_t first_sequence, count;
    uint32_t reason;
    uint64_t sequence;
    uint32_t slot;
    uint32_t code;
    const char *text;              /* NOTICE: valid until the next capture_next_* call */
} capture_event;

/** The next event, waiting up to `timeout_ms` (-1: forever, 0: only what is there).
 *  Returns 0; -CAPTURE_ETIMEDOUT; -EINTR when a signal arrived (call again to go on);
 *  -CAPTURE_EWOKEN after capture_wakeup(); or an error that ended the session
 *  (-CAPTURE_EDAEMON_GONE unless reconnecting, -CAPTURE_EREFUSED, -CAPTURE_EDETACHED,
 *  -CAPTURE_EPROTOCOL). While reconnecting it waits no longer than `timeout_ms` either. */
int capture_next_event(capture_client *client, int timeout_ms, capture_event *event);
/** The next frame; drops and revocations on the way are counted (capture_statistics). */
int capture_next_frame(capture_client *client, int timeout_ms, capture_frame **frame);
/** The next frame and every other already waiting, oldest first, up to `capacity`: handle them
 *  and release them as one batch (capture_release_frames: one message). Returns the count. */
int capture_next_frames(capture_client *client, int timeout_ms, capture_frame **frames, size_t capacity);
/** Latest mode: spins on the ring head instead of sleeping; returns the newest frame not yet
 *  returned. The lowest latency there is, for a whole CPU. Reads the socket now and then. */
int capture_next_frame_busy_poll(capture_client *client, int timeout_ms, capture_frame **frame);

/** Releases `frame` (lease mode: the lease goes back to the daemon) and frees it. */
void capture_frame_release(capture_frame *frame);
/** Releases `count` frames in one message per session. Frees them. */
void capture_release_frames(capture_frame *const *frames, size_t count);
/** capture_frame_unlease() for `count` frames, in one message per session. Keeps them. */
void capture_unlease_frames(capture_frame *const *frames, size_t count);
/** Gives the lease back now but keeps the frame, and the ring mapped, for reading: from here
 *  on the slot may be refilled at any moment, as in latest mode (capture_frame_intact tells).
 *  capture_frame_release() still frees it. For bindings whose views can outlive the lease. */
void capture_frame_unlease(capture_frame *frame);

/** The payload: `length` bytes of the ring's read-only pages. */
const void *capture_frame_data(const capture_frame *frame);
size_t capture_frame_length(const capture_frame *frame);
uint64_t capture_frame_sequence(const capture_frame *frame);
/** CLOCK_MONOTONIC nanoseconds when the device completed the frame. */
uint64_t capture_frame_timestamp_ns(const capture_frame *frame);
uint32_t capture_frame_slot(const capture_frame *frame);
#define CAPTURE_FRAME_CHECKSUM (1U << 0)
#define CAPTURE_FRAME_DEVICE_ERROR (1U << 1)
uint32_t capture_frame_flags(const capture_frame *frame);
uint32_t capture_frame_checksum(const capture_frame *frame);
/** 1 while the lease is held (lease mode): not after release, unlease, capture_close() or
 *  the end of the session. */
int capture_frame_leased(const capture_frame *frame);
/** What the frame holds (its stream's format when it was taken). */
const capture_format *capture_frame_format(const capture_frame *frame);
/** 1 when nothing has rewritten the slot since the frame was announced (the seqlock), else 0.
 *  Read the data, then ask: 1 means what you read is the frame. */
int capture_frame_intact(const capture_frame *frame);
/** Reads every byte: the CRC-32 when the frame has one, the test payloads (pattern, header,
 *  image) byte for byte, then the seqlock. 0, -CAPTURE_EOVERWRITTEN or -CAPTURE_ECORRUPT
 *  (capture_last_message() says where). */
int capture_frame_check(const capture_frame *frame);

/* ---- your own event loop --------------------------------------------------------------- */

/** A descriptor that polls readable when the client has something to do (epoll, GLib,
 *  libuv): then call capture_dispatch() and take events with timeout 0. Owned by the client. */
int capture_fd(capture_client *client);
/** Reads whatever arrived, without blocking, and queues the events. Returns how many events
 *  are queued, or an error that ended the session (as capture_next_event). Reconnecting
 *  (reconnect_ms), it makes one attempt per call and a timer makes capture_fd() readable for
 *  the next one, so a loop that only ever polls capture_fd() reconnects too. */
int capture_dispatch(capture_client *client);
/** Makes a capture_next_* call that is waiting on another thread (busy polling included)
 *  return -CAPTURE_EWOKEN now, or the next call that waits if none is waiting. Events already
 *  queued are still returned first; a call with timeout 0 does not wait and so is not woken;
 *  capture_dispatch() clears a pending wake-up (its caller polls capture_fd() and is awake).
 *  For stopping a streaming thread before capture_close(). */
void capture_wakeup(capture_client *client);

/* ---- statistics and status ------------------------------------------------------------- */

typedef struct capture_statistics {
    uint64_t frames;       /* frames handed out */
    uint64_t dropped;      /* frames reported dropped to this client */
    uint64_t revoked;      /* leases revoked */
    uint64_t overwritten;  /* latest mode: announced, but overwritten before we looked */
    uint64_t reconnects;
} capture_statistics;

void capture_statistics_get(capture_client *client, capture_statistics *statistics);

/** The daemon's status document (PROTOCOL.md §3.9), UTF-8 JSON, NUL-terminated, in *json
 *  (free() it); its length in *length if not NULL. `socket_path` NULL: the default. */
int capture_status_json(const char *socket_path, char **json, size_t *length);

#ifdef __cplusplus
}
#endif
#endif
