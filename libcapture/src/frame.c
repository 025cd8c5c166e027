/* A frame: a slot of the ring as its descriptor described it when it was announced. */
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture_payload.h"

capture_frame *frame_new(struct session *s, uint32_t slot, uint64_t sequence, const struct snapshot *snap, bool leased) {
    capture_frame *f = malloc(sizeof(*f));
    if (!f) return NULL;
    session_retain(s);
    f->session = s;
    f->snap = *snap;
    f->sequence = sequence;
    f->slot = slot;
    f->leased = leased;
    f->hold = -1;
    return f;
}

API const void *capture_frame_data(const capture_frame *f) { return ring_payload(f->session->ring, f->slot); }
API size_t capture_frame_length(const capture_frame *f) { return (size_t)f->snap.length; }
API uint64_t capture_frame_sequence(const capture_frame *f) { return f->sequence; }
API uint64_t capture_frame_timestamp_ns(const capture_frame *f) { return f->snap.timestamp; }
API uint32_t capture_frame_slot(const capture_frame *f) { return f->slot; }
API uint32_t capture_frame_flags(const capture_frame *f) { return f->snap.flags; }
API uint32_t capture_frame_checksum(const capture_frame *f) { return f->snap.checksum; }
API const capture_format *capture_frame_format(const capture_frame *f) { return &f->session->ring->format; }

API int capture_frame_intact(const capture_frame *f) {
    if (f->snap.sequence != f->sequence) return 0;
    if (ring_still_intact(f->session->ring, f->slot, f->snap.generation)) return 1;
    /* A held frame's slot may carry the device's mark while it sees the hold and gives the
     * slot back (PROTOCOL.md §5.2): nothing was written; wait for that outcome. */
    return f->leased && !(f->snap.generation & 1) &&
           ring_await_decision(f->session->ring, f->slot, f->snap.generation) == f->snap.generation;
}

API int capture_frame_check(const capture_frame *f) {
    const struct ring *r = f->session->ring;
    if (f->snap.sequence != f->sequence || (f->snap.generation & 1))
        return fail(-CAPTURE_EOVERWRITTEN, "frame %llu was overwritten before it was read", (unsigned long long)f->sequence);
    const uint8_t *data = capture_frame_data(f);
    size_t length = capture_frame_length(f);
    int corrupt = 0;
    char why[160] = "";
    if (f->snap.flags & CAPTURE_FRAME_DEVICE_ERROR) {
        corrupt = 1;
        snprintf(why, sizeof(why), "the device reported an error filling it");
    } else if ((f->snap.flags & CAPTURE_FRAME_CHECKSUM) && capture_crc32(data, length) != f->snap.checksum) {
        corrupt = 1;
        snprintf(why, sizeof(why), "its CRC-32 differs from the descriptor's 0x%08x", f->snap.checksum);
    } else {
        int64_t at = -1;
        if (r->payload == 1) {
            at = capture_pattern_check(data, length, f->sequence);
        } else if (r->payload == 2 && length >= 8) {
            uint64_t stamp;
            memcpy(&stamp, data, 8);
            if (le64toh(stamp) != f->sequence) at = 0;
        } else if (r->payload == 3 && r->format.kind == CAPTURE_FORMAT_IMAGE) {
            const capture_pixel_format *p = capture_pixel_format_find(r->format.pixel_format);
            at = length < (size_t)r->format.stride * r->format.height ? 0 :
                 capture_image_check(data, p, r->format.width, r->format.height, r->format.stride, f->sequence);
        }
        if (at >= 0) {
            corrupt = 1;
            snprintf(why, sizeof(why), "byte %lld differs from the test payload of the frame", (long long)at);
        }
    }
    /* Overwritten while we read is not corruption: the seqlock has the last word. */
    if (!capture_frame_intact(f))
        return fail(-CAPTURE_EOVERWRITTEN, "frame %llu was overwritten while it was read", (unsigned long long)f->sequence);
    if (corrupt) return fail(-CAPTURE_ECORRUPT, "frame %llu is corrupt: %s", (unsigned long long)f->sequence, why);
    return 0;
}

static void free_frame(capture_frame *f) {
    session_release(f->session);
    free(f);
}

API int capture_frame_leased(const capture_frame *f) { return f->leased && atomic_load(&f->session->open); }

/* One Release message per session for the leased frames among `frames` (a reconnect starts a
 * new session; MAX_BATCH entries each); they are leased no more. */
static void give_back(capture_frame *const *frames, size_t count) {
    struct entry entries[MAX_BATCH];
    uint8_t packet[16 + 16 * MAX_BATCH];
    for (size_t first = 0; first < count; first++) {
        capture_frame *lead = frames[first];
        if (lead && lead->leased && lead->hold >= 0) {
            /* A lease this client took itself: clearing the entry gives it back, no message. */
            session_unhold(lead->session, lead->hold, lead->sequence);
            lead->leased = false;
            continue;
        }
        if (!lead || !lead->leased) continue;
        uint32_t n = 0;
        for (size_t k = first; k < count; k++) {
            capture_frame *f = frames[k];
            if (!f || !f->leased || f->hold >= 0 || f->session != lead->session) continue;
            entries[n++] = (struct entry){ f->slot, f->sequence };
            f->leased = false;
            if (n == MAX_BATCH) {
                session_send(lead->session, packet, encode_release(packet, entries, n), false);
                n = 0;
            }
        }
        if (n) session_send(lead->session, packet, encode_release(packet, entries, n), false);
    }
}

API void capture_frame_unlease(capture_frame *f) {
    if (f) give_back(&f, 1);
}

API void capture_unlease_frames(capture_frame *const *frames, size_t count) { give_back(frames, count); }

API void capture_frame_release(capture_frame *f) {
    if (!f) return;
    capture_release_frames(&f, 1);
}

API void capture_release_frames(capture_frame *const *frames, size_t count) {
    give_back(frames, count);
    for (size_t k = 0; k < count; k++)
        if (frames[k]) free_frame(frames[k]);
}
