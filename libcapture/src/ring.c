/* A client's read-only mapping of a ring, and the seqlock rule (PROTOCOL.md §4-5). The header
 * is checked with overflow-checked arithmetic: nothing in it can make us read outside the
 * mapping. */

#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "capture_payload.h"
#include "capture_ring.h"

static uint64_t load_acquire(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static uint64_t load_relaxed(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED); }
static uint32_t load32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

/* The format block as an array description (capture_format); opaque when it makes no sense. */
static void read_format(const struct capture_frame_format *b, uint64_t frame_bytes, capture_format *f) {
    memset(f, 0, sizeof(*f));
    if (b->kind == CAPTURE_FORMAT_IMAGE) {
        char name[CAPTURE_FORMAT_NAME_BYTES + 1] = { 0 };
        memcpy(name, b->pixel_format, CAPTURE_FORMAT_NAME_BYTES);
        const capture_pixel_format *p = capture_pixel_format_find(name);
        if (p && b->width && b->height && (uint64_t)b->stride >= (uint64_t)b->width * p->bytes_per_pixel &&
            (uint64_t)b->stride * b->height <= frame_bytes) {
            uint32_t item = p->bytes_per_pixel / p->channels;
            f->kind = CAPTURE_FORMAT_IMAGE;
            memcpy(f->pixel_format, name, sizeof(f->pixel_format) - 1);
            f->width = b->width;
            f->height = b->height;
            f->stride = b->stride;
            f->bytes_per_pixel = p->bytes_per_pixel;
            memcpy(f->dtype, p->dtype, sizeof(p->dtype));
            f->ndim = p->channels > 1 ? 3 : 2;
            f->shape[0] = b->height; f->strides[0] = b->stride;
            f->shape[1] = b->width;  f->strides[1] = p->bytes_per_pixel;
            f->shape[2] = p->channels; f->strides[2] = item;
            return;
        }
    } else if (b->kind == CAPTURE_FORMAT_SAMPLES) {
        char dtype[CAPTURE_FORMAT_DTYPE_BYTES + 1] = { 0 };
        memcpy(dtype, b->dtype, CAPTURE_FORMAT_DTYPE_BYTES);
        uint32_t item;
        uint64_t total = 1;
        int ok = capture_dtype_parse(dtype, &item) == 0 && b->ndim >= 1 && b->ndim <= CAPTURE_FORMAT_MAX_DIMS;
        for (uint32_t i = 0; ok && i < b->ndim; i++) {
            uint64_t n = b->shape[i];
            ok = n > 0 && n <= (1ull << 40) && !__builtin_mul_overflow(total, n, &total);
        }
        if (ok && total <= frame_bytes / item) {
            f->kind = CAPTURE_FORMAT_SAMPLES;
            memcpy(f->dtype, dtype, sizeof(f->dtype) - 1);
            f->ndim = b->ndim;
            uint64_t step = item;
            for (int i = (int)b->ndim - 1; i >= 0; i--) {
                f->shape[i] = b->shape[i];
                f->strides[i] = step;
                step *= b->shape[i];
            }
            return;
        }
    }
    f->kind = CAPTURE_FORMAT_OPAQUE;
    memcpy(f->dtype, "|u1", 4);
    f->ndim = 1;
    f->shape[0] = frame_bytes;
    f->strides[0] = 1;
}

int ring_map(int memfd, struct ring **out) {
    /* Without F_SEAL_SHRINK the file could be cut short under our mapping: SIGBUS on read. */
    int seals = fcntl(memfd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return fail(-CAPTURE_EPROTOCOL, "the ring is not a memfd sealed against shrinking (F_GET_SEALS: %d)", seals);
    struct stat st;
    if (fstat(memfd, &st) != 0) return fail(-errno, "fstat(ring memfd): %s", strerror(errno));
    size_t size = (size_t)st.st_size;
    if (size < CAPTURE_RING_HEADER_BYTES) return fail(-CAPTURE_EPROTOCOL, "the ring is only %zu bytes", size);
    const uint8_t *base = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
    if (base == MAP_FAILED) return fail(-errno, "mmap(ring, %zu bytes, PROT_READ, MAP_SHARED): %s", size, strerror(errno));
    const struct capture_ring_header *h = (const void *)base;
    const char *why = NULL;
    uint64_t slots = 0, frame = 0, page = 0, descriptors = 0, stride = 0, slots_offset = 0, total = 0;
    /* The magic is stored last, with release: after this acquire the rest of the header is there. */
    if (load_acquire(&h->magic) != CAPTURE_RING_MAGIC) {
        why = "bad magic";
    } else {
        slots = load32(&h->slot_count);
        frame = h->frame_bytes;
        page = load32(&h->page_bytes);
        if (load32(&h->layout_version) != CAPTURE_RING_LAYOUT_VERSION) why = "unknown layout version";
        else if (load32(&h->header_bytes) != CAPTURE_RING_HEADER_BYTES || load32(&h->descriptor_bytes) != CAPTURE_RING_DESCRIPTOR_BYTES)
            why = "unexpected header or descriptor size";
        else if (!slots || !frame || !page || frame > size || page > size) why = "zero or impossible sizes";
        else if (__builtin_mul_overflow(slots, (uint64_t)CAPTURE_RING_DESCRIPTOR_BYTES, &descriptors) || descriptors > size) why = "too many slots";
        else {
            stride = round_up(frame, page);
            slots_offset = round_up(CAPTURE_RING_HEADER_BYTES + descriptors, page);
            if (__builtin_mul_overflow(slots, stride, &total) || __builtin_add_overflow(total, slots_offset, &total) || total != size ||
                h->ring_bytes != size ||
                h->slots_offset != slots_offset || h->slot_stride != stride || h->descriptors_offset != CAPTURE_RING_HEADER_BYTES)
                why = "the header's geometry does not match the memfd";
        }
    }
    if (why) {
        munmap((void *)base, size);
        return fail(-CAPTURE_EPROTOCOL, "not a capture ring: %s", why);
    }
    struct ring *r = calloc(1, sizeof(*r));
    if (!r) {
        munmap((void *)base, size);
        return fail(-ENOMEM, "out of memory");
    }
    atomic_init(&r->refs, 1);
    r->base = base;
    r->size = size;
    r->inode = (uint64_t)st.st_ino;
    r->slot_count = (uint32_t)slots;
    r->frame_bytes = frame;
    r->descriptors_offset = CAPTURE_RING_HEADER_BYTES;
    r->slots_offset = slots_offset;
    r->slot_stride = stride;
    r->payload = load32(&h->payload_format);
    memcpy(r->name, h->stream_name, CAPTURE_RING_NAME_BYTES);
    /* Checked and used from one copy: the daemon could change the shared block meanwhile. */
    struct capture_frame_format block;
    memcpy(&block, &h->format, sizeof(block));
    __asm__ __volatile__("" ::: "memory");
    read_format(&block, frame, &r->format);
    *out = r;
    return 0;
}

void ring_retain(struct ring *r) { atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed); }

void ring_release(struct ring *r) {
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        munmap((void *)r->base, r->size);
        free(r);
    }
}

static const uint8_t *descriptor(const struct ring *r, uint32_t slot) {
    return r->base + r->descriptors_offset + (uint64_t)slot * CAPTURE_RING_DESCRIPTOR_BYTES;
}

struct snapshot ring_snapshot(const struct ring *r, uint32_t slot) {
    const uint8_t *d = descriptor(r, slot);
    struct snapshot s;
    s.generation = load_acquire(d + offsetof(struct capture_slot_descriptor, generation));
    s.sequence = load_relaxed(d + offsetof(struct capture_slot_descriptor, sequence));
    s.length = load_relaxed(d + offsetof(struct capture_slot_descriptor, length));
    s.timestamp = load_relaxed(d + offsetof(struct capture_slot_descriptor, timestamp_ns));
    s.flags = __atomic_load_n((const uint32_t *)(d + offsetof(struct capture_slot_descriptor, flags)), __ATOMIC_RELAXED);
    s.checksum = __atomic_load_n((const uint32_t *)(d + offsetof(struct capture_slot_descriptor, checksum)), __ATOMIC_RELAXED);
    if (s.length > r->frame_bytes) s.length = r->frame_bytes;   /* a descriptor may claim anything */
    return s;
}

bool ring_still_intact(const struct ring *r, uint32_t slot, uint64_t generation) {
    atomic_thread_fence(memory_order_acquire);
    return !(generation & 1) && load_relaxed(descriptor(r, slot)) == generation;
}

uint64_t ring_await_decision(const struct ring *r, uint32_t slot, uint64_t generation) {
    uint64_t now = load_acquire(descriptor(r, slot)), started = 0;
    /* The device decides within a few loads, unless it lost its CPU in between: then yield to
     * it, and give up (the mark stands: the frame reads as overwritten) after a second. */
    for (uint32_t spins = 0; now == generation + 1; spins++) {
        if (spins < 1000) {
            cpu_relax();
        } else {
            uint64_t t = monotonic_ns();
            if (!started) started = t;
            else if (t - started > 1000000000ull) break;
            sched_yield();
        }
        now = load_acquire(descriptor(r, slot));
    }
    return now;
}

void ring_head(const struct ring *r, uint64_t *sequence, uint64_t *slot) {
    const struct capture_ring_header *h = (const void *)r->base;
    *sequence = load_acquire(&h->head_sequence);
    *slot = load_relaxed(&h->head_slot);
}

const uint8_t *ring_payload(const struct ring *r, uint32_t slot) {
    return r->base + r->slots_offset + (uint64_t)slot * r->slot_stride;
}

int ring_device_missed(const struct ring *r, uint64_t sequence) {
    const struct capture_ring_header *h = (const void *)r->base;
    uint64_t written = load_acquire(&h->gaps_written), oldest = UINT64_MAX;
    for (uint64_t i = written > CAPTURE_RING_GAPS ? written - CAPTURE_RING_GAPS : 0; i < written; i++) {
        const struct capture_ring_gap *g = &h->gaps[i % CAPTURE_RING_GAPS];
        uint64_t first = load_relaxed(&g->first), count = load_relaxed(&g->count);
        if (sequence >= first && sequence - first < count) return 1;
        if (first < oldest) oldest = first;
    }
    return written > CAPTURE_RING_GAPS && sequence < oldest ? -1 : 0;
}
