/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * capture_ring: the layout of a capture ring (docs/PROTOCOL.md §4-§6), the one definition
 * shared by the capture_dma driver, captured and its Swift client (imported through the
 * CCaptureUAPI target) and libcapture. A test checks PROTOCOL.md's tables against it.
 *
 *     0                    struct capture_ring_header (CAPTURE_RING_HEADER_BYTES reserved)
 *     descriptors_offset   struct capture_slot_descriptor[slot_count]
 *     slots_offset         slot 0, slot 1, ... each slot_stride bytes, page-aligned
 *
 * All integers are little-endian. Shared 64-bit words marked "release" are stored with
 * release semantics and loaded with acquire semantics by readers.
 */
#ifndef CAPTURE_RING_UAPI_H
#define CAPTURE_RING_UAPI_H

#include <linux/types.h>

#define CAPTURE_RING_MAGIC          0x31474E4952504143ULL /* the bytes "CAPRING1" */
#define CAPTURE_RING_LAYOUT_VERSION 1
#define CAPTURE_RING_HEADER_BYTES   4096
#define CAPTURE_RING_NAME_BYTES     32

/* Payload formats (header.payload_format). */
#define CAPTURE_PAYLOAD_RAW     0   /* device data, opaque to the service */
#define CAPTURE_PAYLOAD_PATTERN 1   /* every byte from the pattern below, CRC-32 in the descriptor */
#define CAPTURE_PAYLOAD_HEADER  2   /* only the first 8 bytes: the sequence, little-endian */
#define CAPTURE_PAYLOAD_IMAGE   3   /* the moving test picture (PROTOCOL.md §6), CRC-32 in the descriptor */

/* What a frame holds (header.format.kind). */
#define CAPTURE_FORMAT_OPAQUE   0   /* bytes; daemons before the format block wrote zeros here */
#define CAPTURE_FORMAT_IMAGE    1   /* pixels: pixel_format, width, height, stride */
#define CAPTURE_FORMAT_SAMPLES  2   /* an array: dtype and shape */
#define CAPTURE_FORMAT_NAME_BYTES 16
#define CAPTURE_FORMAT_DTYPE_BYTES 8
#define CAPTURE_FORMAT_MAX_DIMS 4

/* Frame flags (descriptor.flags, and capture_completion.flags). */
#define CAPTURE_FRAME_CHECKSUM     (1U << 0)  /* checksum holds the payload's CRC-32 */
#define CAPTURE_FRAME_DEVICE_ERROR (1U << 1)  /* the device reported an error for this frame */

/* The pattern payload: little-endian 64-bit words w[i] = sequence * BASE + i * STEP (mod 2^64);
 * a trailing partial word is the low-order bytes of the next w[i]. */
#define CAPTURE_PATTERN_BASE 0x9E3779B97F4A7C15ULL
#define CAPTURE_PATTERN_STEP 0xD1B54A32D192ED03ULL

/* What every frame of the stream holds, so a client needs no configuration to build a NumPy
 * array or GStreamer caps. In the header page, where older clients never looked. */
struct capture_frame_format {
	__u32 kind;               /*  0 CAPTURE_FORMAT_* */
	__u32 ndim;               /*  4 samples: dimensions in shape, 1..CAPTURE_FORMAT_MAX_DIMS */
	char pixel_format[CAPTURE_FORMAT_NAME_BYTES]; /* 8 image: GStreamer's name ("GRAY8"), NUL-padded */
	__u32 width;              /* 24 image: pixels per row */
	__u32 height;             /* 28 image: rows */
	__u32 stride;             /* 32 image: bytes from one row to the next */
	__u32 reserved0;          /* 36 */
	char dtype[CAPTURE_FORMAT_DTYPE_BYTES]; /* 40 samples: NumPy typestr ("<i2"), NUL-padded */
	__u64 shape[CAPTURE_FORMAT_MAX_DIMS];   /* 48 samples: elements per dimension, C order */
	__u8 reserved[48];        /* 80 */
};

/* A run of frames the device could not capture because no slot was free (sequences first ..
 * first + count - 1). The device logs them in the header, so a client that reads the ring head
 * itself (doorbell, busy polling, self-serve leases) can tell a device overrun from a frame it
 * was itself too late to take. */
#define CAPTURE_RING_GAPS 32
struct capture_ring_gap {
	__u64 first;
	__u64 count;
};

struct capture_ring_header {
	__u64 magic;              /*   0 CAPTURE_RING_MAGIC, stored last (release) */
	__u32 layout_version;     /*   8 CAPTURE_RING_LAYOUT_VERSION */
	__u32 header_bytes;       /*  12 CAPTURE_RING_HEADER_BYTES */
	__u32 slot_count;         /*  16 */
	__u32 descriptor_bytes;   /*  20 sizeof(struct capture_slot_descriptor) */
	__u64 descriptors_offset; /*  24 CAPTURE_RING_HEADER_BYTES */
	__u64 slots_offset;       /*  32 a multiple of page_bytes */
	__u64 slot_stride;        /*  40 frame_bytes rounded up to page_bytes */
	__u64 frame_bytes;        /*  48 the largest frame a slot holds */
	__u64 ring_bytes;         /*  56 slots_offset + slot_count * slot_stride: the memfd's size */
	__u32 payload_format;     /*  64 CAPTURE_PAYLOAD_* */
	__u32 page_bytes;         /*  68 4096, or the hugepage size */
	char stream_name[CAPTURE_RING_NAME_BYTES]; /* 72 UTF-8, NUL-padded */
	__u8 reserved0[24];       /* 104 */
	__u64 head_sequence;      /* 128 newest published frame, 0 before the first (release) */
	__u64 head_slot;          /* 136 its slot, stored before head_sequence */
	__u8 reserved1[112];      /* 144 */
	struct capture_frame_format format; /* 256 written once, before the magic */
	__u64 gaps_written;       /* 384 gaps logged so far (release); gap i is gaps[i % CAPTURE_RING_GAPS] */
	__u64 reserved2;          /* 392 */
	struct capture_ring_gap gaps[CAPTURE_RING_GAPS]; /* 400 written before gaps_written */
};

/* A self-serve lease client's holds (PROTOCOL.md §5.2): one page, its own memfd, which the
 * client maps read-write and the device reads before it reuses a slot. Entry i holds the
 * sequence of a frame the client leases (0: none); the device honours the first `limit`
 * entries only, at sequences the daemon has not revoked. */
#define CAPTURE_HOLDS_MAGIC   0x31444C4F48504143ULL /* the bytes "CAPHOLD1" */
#define CAPTURE_HOLDS_BYTES   4096
#define CAPTURE_HOLDS_ENTRIES 500
struct capture_holds {
	__u64 magic;              /*   0 CAPTURE_HOLDS_MAGIC (daemon) */
	__u32 limit;              /*   8 entries the device honours: the client's max_leases (daemon; the
	                           *    device keeps its own copy) */
	__u32 reserved0;          /*  12 */
	__u64 examined;           /*  16 client: the newest sequence it has looked at (for status) */
	__u64 recycled;           /*  24 client: frames whose slots the device reused before it could hold
	                           *    them, which only it sees (for status; the daemon counts the rest) */
	__u8 reserved1[32];       /*  32 */
	__u64 held[CAPTURE_HOLDS_ENTRIES]; /* 64 sequences held, 0: free (sequentially consistent) */
};

struct capture_slot_descriptor {
	__u64 generation;         /*  0 the seqlock: odd while the device fills the slot, even when
	                           *    stable, 0 never filled (release) */
	__u64 sequence;           /*  8 the frame in the slot */
	__u64 length;             /* 16 payload bytes, <= frame_bytes */
	__u64 timestamp_ns;       /* 24 CLOCK_MONOTONIC at device completion */
	__u32 flags;              /* 32 CAPTURE_FRAME_* */
	__u32 checksum;           /* 36 CRC-32 (zlib's) of the payload when CAPTURE_FRAME_CHECKSUM */
	__u64 offset;             /* 40 of the slot in the ring */
	__u8 reserved[16];        /* 48 */
};

#define CAPTURE_RING_DESCRIPTOR_BYTES 64

#ifndef __cplusplus
_Static_assert(sizeof(struct capture_slot_descriptor) == CAPTURE_RING_DESCRIPTOR_BYTES, "descriptor layout");
_Static_assert(sizeof(struct capture_frame_format) == 128, "format layout");
_Static_assert(sizeof(struct capture_ring_header) == 912, "header layout");
_Static_assert(sizeof(struct capture_holds) <= CAPTURE_HOLDS_BYTES, "holds layout");
#endif

#endif
