/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture_core.h: what a capture engine (the code that drives your hardware) uses of the
 * capture core (capture_dma.ko). docs/DRIVER.md explains it step by step.
 *
 * The core owns everything that is easy to get wrong and the same for every device: the char
 * device /dev/captureN and its ioctl ABI (uapi/capture_dma.h), the ring captured registers,
 * pinning it with FOLL_LONGTERM, one scatter-gather table per slot mapped for DMA against the
 * engine's struct device (so its DMA mask and IOMMU apply), slot states, the slot descriptors
 * and ring head in shared memory, completions, doorbells, statistics, and unpinning when the
 * owner closes or dies. An engine only programs its hardware with the slots it is given and
 * reports each one filled.
 *
 *   probe:        capture_device_register(&ops, parent, dma_dev, priv, "name")
 *   core calls:   ops->start(priv, params)  ... ops->queue_slot(priv, slot) ...  ops->stop(priv)
 *   engine calls: capture_slot_done(dev, slot, ...)  and  capture_frames_lost(dev, n)
 *   remove:       capture_device_unregister(dev)
 *
 * Context rules (docs/DRIVER.md, "Locking and context"):
 * - start and stop are called in process context with the device's mutex held; they may sleep.
 * - queue_slot is called with the core's spinlock held, interrupts off: it must not sleep. It
 *   hands the engine a slot to fill, in the order the engine will fill them; the engine owns
 *   the slot until it calls capture_slot_done() for it (or until stop returns).
 * - capture_slot_done() and capture_frames_lost() may be called from any context, interrupt
 *   handlers included (on PREEMPT_RT, from threaded handlers, which is the default there).
 * - After stop returns the engine must not call capture_slot_done() for the slots it held; the
 *   core takes them back. After capture_device_unregister() returns the core never calls ops.
 */
#ifndef CAPTURE_CORE_H
#define CAPTURE_CORE_H

#include <linux/scatterlist.h>
#include <linux/types.h>

#include "uapi/capture_dma.h"

struct capture_device;
struct device;
struct module;

/* What START asked for: the engine paces and fills frames accordingly. */
struct capture_stream_params {
	u32 frame_rate_mhz;   /* frames per 1000 s (1000000 = 1000 frames/s); 0: as fast as slots come */
	u32 payload;          /* CAPTURE_PAYLOAD_PATTERN or _HEADER: what a test engine writes */
	u64 frame_bytes;      /* the largest frame a slot holds */
};

/* A slot the engine may fill. Valid from queue_slot until capture_slot_done (or stop). */
struct capture_slot {
	u32 index;
	u64 frame_bytes;          /* how many bytes the slot holds */
	/* The slot's pages as a scatter-gather table. When the engine registered a dma_dev it is
	 * mapped for DMA_FROM_DEVICE against it for the life of the ring: program the hardware
	 * with sg_dma_address()/sg_dma_len() of for_each_sgtable_dma_sg(). The core syncs it for
	 * the device before queue_slot and for the CPU before it publishes the frame. */
	struct sg_table *sgt;
	/* The pinned pages, for engines that write with the CPU (kmap_local_page). */
	struct page **pages;
	unsigned int npages;
};

struct capture_engine_ops {
	struct module *owner;     /* THIS_MODULE */
	/* Start capturing into the slots queue_slot gives you. */
	int (*start)(void *priv, const struct capture_stream_params *params);
	/* Stop; when it returns, the engine touches no slot and calls no capture_slot_done(). */
	void (*stop)(void *priv);
	/* A slot to fill after the ones already given. Atomic context: record it, kick the
	 * hardware, return. */
	void (*queue_slot)(void *priv, const struct capture_slot *slot);
	/* How many slots the engine wants at once (its descriptor ring): the core gives it at most
	 * this many, so the frames in the other queued slots stay readable until their turn. */
	u32 max_queued;
	/* For CAPTURE_IOC_INFO: CAPTURE_ENGINE_* and a short name. */
	u32 engine_id;
	const char *name;
};

/*
 * A device arrives: /dev/captureN appears under `parent` (udev sees "add"). `dma_dev` is the
 * device that does DMA (its mask and IOMMU domain apply), or NULL for an engine that writes
 * with the CPU. Returns the device or an ERR_PTR. Process context.
 */
struct capture_device *capture_device_register(const struct capture_engine_ops *ops, struct device *parent,
					       struct device *dma_dev, void *priv);

/*
 * The device goes away, possibly while captured has it open (unplug, unbind, module unload):
 * the engine is stopped, /dev/captureN disappears (udev "remove"), the open file gets ENODEV
 * and POLLHUP, and the ring is unpinned at its last close. Process context; may sleep.
 */
void capture_device_unregister(struct capture_device *dev);

/*
 * The engine filled `slot` with `bytes` bytes. `flags` may hold CAPTURE_FRAME_CHECKSUM (with
 * `checksum` the CRC-32 of the payload) and CAPTURE_FRAME_DEVICE_ERROR (the hardware reported
 * an error: the frame is published flagged, so clients know). `timestamp_ns` is the
 * completion time on CLOCK_MONOTONIC, or 0 for "now". The core numbers the frame, publishes
 * it (descriptor, ring head), rings the doorbells, queues the completion for captured, and
 * gives the engine its next slot. Any context.
 */
void capture_slot_done(struct capture_device *dev, u32 slot, u64 bytes, u32 flags, u32 checksum, u64 timestamp_ns);

/*
 * `count` frames arrived with no slot to put them in (the hardware's overrun count): they
 * take sequence numbers, so captured sees the gap and reports it to every client. Any context.
 */
void capture_frames_lost(struct capture_device *dev, u64 count);

/*
 * The sequence number the next frame completed will get: for test engines that write it into
 * the payload. Exact when one thread both completes frames and reports the lost ones, as
 * capture_loopback and capture_edu do. Any context.
 */
u64 capture_next_sequence(struct capture_device *dev);

/* The number of slots the engine holds now (queued to it and not yet done). Any context. */
u32 capture_slots_held(struct capture_device *dev);

/*
 * For an engine that reads a slot with the CPU before completing it (to checksum what its
 * DMA wrote): makes the device's writes visible to the CPU (dma_sync_sgtable_for_cpu; with
 * bounce buffers, copies them in). A no-op without a dma_dev. Any context.
 */
void capture_slot_sync_for_cpu(struct capture_device *dev, const struct capture_slot *slot);

#endif
