/* The ring's and the holds page's field offsets as integer constants. Swift computes an offset
 * from a key path at run time, into a lazily initialised global: a swift_once on every access,
 * and the device, the daemon and the clients read these on every frame. */
#ifndef CAPTURE_LAYOUT_H
#define CAPTURE_LAYOUT_H
#include <stddef.h>
#include "capture_ring.h"

enum {
    CAPTURE_HEADER_OFF_MAGIC = offsetof(struct capture_ring_header, magic),
    CAPTURE_HEADER_OFF_VERSION = offsetof(struct capture_ring_header, layout_version),
    CAPTURE_HEADER_OFF_HEADER_BYTES = offsetof(struct capture_ring_header, header_bytes),
    CAPTURE_HEADER_OFF_SLOT_COUNT = offsetof(struct capture_ring_header, slot_count),
    CAPTURE_HEADER_OFF_DESCRIPTOR_BYTES = offsetof(struct capture_ring_header, descriptor_bytes),
    CAPTURE_HEADER_OFF_DESCRIPTORS_OFFSET = offsetof(struct capture_ring_header, descriptors_offset),
    CAPTURE_HEADER_OFF_SLOTS_OFFSET = offsetof(struct capture_ring_header, slots_offset),
    CAPTURE_HEADER_OFF_SLOT_STRIDE = offsetof(struct capture_ring_header, slot_stride),
    CAPTURE_HEADER_OFF_FRAME_BYTES = offsetof(struct capture_ring_header, frame_bytes),
    CAPTURE_HEADER_OFF_RING_BYTES = offsetof(struct capture_ring_header, ring_bytes),
    CAPTURE_HEADER_OFF_PAYLOAD_FORMAT = offsetof(struct capture_ring_header, payload_format),
    CAPTURE_HEADER_OFF_PAGE_BYTES = offsetof(struct capture_ring_header, page_bytes),
    CAPTURE_HEADER_OFF_STREAM_NAME = offsetof(struct capture_ring_header, stream_name),
    CAPTURE_HEADER_OFF_HEAD_SEQUENCE = offsetof(struct capture_ring_header, head_sequence),
    CAPTURE_HEADER_OFF_HEAD_SLOT = offsetof(struct capture_ring_header, head_slot),
    CAPTURE_HEADER_OFF_FORMAT = offsetof(struct capture_ring_header, format),
    CAPTURE_HEADER_OFF_GAPS_WRITTEN = offsetof(struct capture_ring_header, gaps_written),
    CAPTURE_HEADER_OFF_GAPS = offsetof(struct capture_ring_header, gaps),

    CAPTURE_HOLDS_OFF_MAGIC = offsetof(struct capture_holds, magic),
    CAPTURE_HOLDS_OFF_LIMIT = offsetof(struct capture_holds, limit),
    CAPTURE_HOLDS_OFF_EXAMINED = offsetof(struct capture_holds, examined),
    CAPTURE_HOLDS_OFF_RECYCLED = offsetof(struct capture_holds, recycled),
    CAPTURE_HOLDS_OFF_HELD = offsetof(struct capture_holds, held),

    CAPTURE_DESCRIPTOR_OFF_GENERATION = offsetof(struct capture_slot_descriptor, generation),
    CAPTURE_DESCRIPTOR_OFF_SEQUENCE = offsetof(struct capture_slot_descriptor, sequence),
    CAPTURE_DESCRIPTOR_OFF_LENGTH = offsetof(struct capture_slot_descriptor, length),
    CAPTURE_DESCRIPTOR_OFF_TIMESTAMP = offsetof(struct capture_slot_descriptor, timestamp_ns),
    CAPTURE_DESCRIPTOR_OFF_FLAGS = offsetof(struct capture_slot_descriptor, flags),
    CAPTURE_DESCRIPTOR_OFF_CHECKSUM = offsetof(struct capture_slot_descriptor, checksum),
    CAPTURE_DESCRIPTOR_OFF_OFFSET = offsetof(struct capture_slot_descriptor, offset),
};

#endif
