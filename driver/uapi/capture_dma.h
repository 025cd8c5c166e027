/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * capture_dma: the ioctl ABI of /dev/captureN, shared verbatim by the kernel module and by
 * captured (Swift imports this file through the CCaptureUAPI target). One copy, here.
 *
 * Life of a ring:
 *   open("/dev/captureN")            exclusive; closing the fd unregisters and unpins
 *   CAPTURE_IOC_INFO                 ABI version, limits, engine
 *   CAPTURE_IOC_REGISTER_RING        memfd + the caller's MAP_SHARED read-write mapping of it;
 *                                    pins every page once (FOLL_WRITE | FOLL_LONGTERM) and
 *                                    builds one scatter-gather table per slot
 *   CAPTURE_IOC_QUEUE                slots the device may fill, in this order (each must be owned
 *                                    by the caller); the driver turns a slot descriptor's generation
 *                                    odd when it starts filling the slot, so until then the frame
 *                                    that was there stays readable
 *   completion                       the driver publishes the slot descriptor (generation even,
 *                                    release) and the ring head, then queues the record
 *   CAPTURE_IOC_START / STOP
 *   read()                           struct capture_completion records; poll() for POLLIN
 *   CAPTURE_IOC_SLOTS                who holds each slot (a restarted daemon rebuilds its state)
 *   CAPTURE_IOC_STATS
 *   CAPTURE_IOC_UNREGISTER           unpins (dirty); also done by release()
 *   CAPTURE_IOC_DOORBELL             add or remove an eventfd the driver signals right after it
 *                                    publishes each frame (a latest-mode client's wake-up, with
 *                                    the daemon out of the path); all are dropped by release()
 *
 * Recycling (ABI 2, docs/PROTOCOL.md §5.2): START with CAPTURE_START_RECYCLE after queueing every
 * slot once, and the driver keeps them: whenever the engine needs a slot it takes the one with
 * the oldest frame that nobody holds, and never waits for the caller again. Holds are the
 * caller's (leases it grants by message) and the holds pages of self-serve clients:
 *   CAPTURE_IOC_HOLD                 one more or one less of the caller's holds on a slot's frame,
 *                                    or none on any slot (a new daemon)
 *   CAPTURE_IOC_HOLDER               register a holds page (the caller's MAP_SHARED mapping of a
 *                                    memfd page; pinned), forget one, void its holds below a
 *                                    sequence (lease timeout), or forget all (a new daemon)
 * The driver marks a slot (generation odd) before it reads the holds and puts the generation
 * back if it finds one; a holder stores its hold before it looks at the slot. Completions keep
 * coming, for the caller's accounting; when the caller is late the oldest records give way.
 */
#ifndef CAPTURE_DMA_UAPI_H
#define CAPTURE_DMA_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#include "capture_ring.h"   /* the ring's layout, payload formats and frame flags */

#define CAPTURE_DMA_ABI_VERSION 2
#define CAPTURE_DMA_MAX_SLOTS 65536

/* Engines: what fills the slots (capture_info.engine; engine_name says which exactly). */
#define CAPTURE_ENGINE_NONE     0   /* an engine for your own hardware */
#define CAPTURE_ENGINE_LOOPBACK 1   /* a kernel thread writes frames through the pinned pages */
#define CAPTURE_ENGINE_EDU      2   /* QEMU's edu PCI device writes them by DMA (dma_map_sgtable) */


struct capture_info {
	__u32 abi_version;
	__u32 max_slots;
	__u32 engine;          /* CAPTURE_ENGINE_* */
	__u32 reserved;
	__u64 max_ring_bytes;
	char engine_name[16];
};

struct capture_register {
	__s32 memfd;           /* a memfd (shmem or hugetlbfs) sealed with at least SHRINK|GROW */
	__u32 slot_count;
	__u64 user_address;    /* the caller's MAP_SHARED, PROT_READ|PROT_WRITE mapping, offset 0 */
	__u64 ring_bytes;      /* == the memfd's size; the mapping covers all of it */
	__u64 slots_offset;    /* page-aligned */
	__u64 slot_stride;     /* page-aligned */
	__u64 frame_bytes;     /* <= slot_stride */
	__u32 layout_version;  /* CAPTURE_RING_LAYOUT_VERSION */
	__u32 descriptor_bytes;/* CAPTURE_RING_DESCRIPTOR_BYTES */
	__u64 descriptors_offset; /* slot descriptors, descriptor_bytes each, before slots_offset */
};

struct capture_queue {
	__u32 count;
	__u32 reserved;
	__u64 slots;           /* user pointer to count __u32 slot numbers */
};

struct capture_start {
	__u32 frame_rate_mhz;  /* loopback: frames per 1000 s (1000000 = 1000 frames/s); 0 = as fast as slots come */
	__u32 payload;         /* loopback: CAPTURE_PAYLOAD_PATTERN or _HEADER (capture_ring.h) */
	__u32 flags;           /* CAPTURE_START_* */
	__u32 reserved;
};
#define CAPTURE_START_RECYCLE 1  /* the driver recycles the queued slots itself from now on (ABI 2) */

/* One completed frame, as read() returns them: 40 bytes, little-endian on every platform we run. */
struct capture_completion {
	__u32 slot;
	__u32 flags;           /* CAPTURE_FRAME_* (capture_ring.h) */
	__u64 bytes;
	__u64 sequence;        /* the device's frame counter: a gap is frames the device lost */
	__u64 timestamp_ns;    /* CLOCK_MONOTONIC */
	__u32 checksum;        /* CRC-32 (zlib's) of the payload when CAPTURE_FRAME_CHECKSUM */
	__u32 reserved;
};

/* Per-slot state, as CAPTURE_IOC_SLOTS reports it. */
#define CAPTURE_SLOT_OWNED   0   /* the caller's: free or published */
#define CAPTURE_SLOT_QUEUED  1   /* queued to the device */
#define CAPTURE_SLOT_FILLING 2   /* the device is writing it */
#define CAPTURE_SLOT_DONE    3   /* complete; its completion has not been read() yet */

struct capture_slots {
	__u32 count;           /* entries the buffer holds; the driver writes min(count, slot_count) */
	__u32 reserved;
	__u64 states;          /* user pointer to count __u8 CAPTURE_SLOT_* values */
};

struct capture_stats {
	__u64 frames;
	__u64 overruns;        /* frame times with no queued slot */
	__u64 errors;
	__u64 pinned_pages;
	__u64 sg_entries;      /* scatter-gather entries over all slots */
	__u64 queued;          /* slots queued right now */
	__u64 recycling;       /* 1: the ring was started with CAPTURE_START_RECYCLE (ABI 2) */
};

/* An eventfd the daemon handed to a client: the driver takes its own reference. */
struct capture_doorbell {
	__s32 fd;
	__u32 op;              /* CAPTURE_DOORBELL_ADD, _REMOVE, or _CLEAR (fd ignored) */
};
#define CAPTURE_DOORBELL_ADD    1
#define CAPTURE_DOORBELL_REMOVE 2
#define CAPTURE_DOORBELL_CLEAR  3  /* every doorbell (fd ignored) */
#define CAPTURE_DOORBELL_RETIRE 4  /* a daemon adopting the device: every doorbell now registered is
                                    * its predecessor's, kept ringing until _DROP_RETIRED (ABI 2) */
#define CAPTURE_DOORBELL_DROP_RETIRED 5
#define CAPTURE_MAX_DOORBELLS   64

/* A self-serve client's holds page (struct capture_holds, capture_ring.h), as the driver honours it. */
struct capture_holder {
	__u32 op;              /* CAPTURE_HOLDER_* */
	__u32 id;              /* the caller's name for the page; unique among those registered */
	__u64 user_address;    /* ADD: the caller's MAP_SHARED mapping of the page (a memfd), page-aligned */
	__u32 limit;           /* ADD: entries honoured, <= CAPTURE_HOLDS_ENTRIES (the client's max_leases) */
	__u32 reserved;
	__u64 void_below;      /* REVOKE: the page's holds on sequences below this are ignored from now on */
};
#define CAPTURE_HOLDER_ADD    1
#define CAPTURE_HOLDER_REMOVE 2
#define CAPTURE_HOLDER_REVOKE 3
#define CAPTURE_HOLDER_CLEAR  4  /* every page */
#define CAPTURE_HOLDER_RETIRE 5  /* a daemon adopting the device: every page now registered is its
                                  * predecessor's, honoured until _DROP_RETIRED (the clients' grace) */
#define CAPTURE_HOLDER_DROP_RETIRED 6
#define CAPTURE_MAX_HOLDERS   64

/* The caller's holds on a slot's frame (leases it grants by message). */
struct capture_hold {
	__u32 slot;            /* CAPTURE_HOLD_ALL_SLOTS with delta 0: drop every one */
	__s32 delta;           /* +1 or -1 */
};
#define CAPTURE_HOLD_ALL_SLOTS 0xFFFFFFFFu

#define CAPTURE_IOC_MAGIC 0xCA
#define CAPTURE_IOC_INFO          _IOR(CAPTURE_IOC_MAGIC, 0, struct capture_info)
#define CAPTURE_IOC_REGISTER_RING _IOW(CAPTURE_IOC_MAGIC, 1, struct capture_register)
#define CAPTURE_IOC_QUEUE         _IOW(CAPTURE_IOC_MAGIC, 2, struct capture_queue)
#define CAPTURE_IOC_START         _IOW(CAPTURE_IOC_MAGIC, 3, struct capture_start)
#define CAPTURE_IOC_STOP          _IO(CAPTURE_IOC_MAGIC, 4)
#define CAPTURE_IOC_STATS         _IOR(CAPTURE_IOC_MAGIC, 5, struct capture_stats)
#define CAPTURE_IOC_UNREGISTER    _IO(CAPTURE_IOC_MAGIC, 6)
#define CAPTURE_IOC_SLOTS         _IOW(CAPTURE_IOC_MAGIC, 7, struct capture_slots)
#define CAPTURE_IOC_DOORBELL      _IOW(CAPTURE_IOC_MAGIC, 8, struct capture_doorbell)
#define CAPTURE_IOC_HOLDER        _IOW(CAPTURE_IOC_MAGIC, 9, struct capture_holder)
#define CAPTURE_IOC_HOLD          _IOW(CAPTURE_IOC_MAGIC, 10, struct capture_hold)

#endif
