// SPDX-License-Identifier: GPL-2.0
/*
 * capture_dma: the capture core. Char device /dev/captureN, the ioctl ABI of
 * uapi/capture_dma.h, and everything between a daemon-owned memfd ring and a capture engine
 * (capture_core.h; docs/DRIVER.md).
 *
 * The core owns no buffer memory. captured registers one sealed memfd ring per device together
 * with its own read-write mapping of it; the core pins every page of that mapping exactly once
 * with pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) — shmem or hugetlb pages only, never
 * anonymous memory — builds one scatter-gather table per slot, maps it for DMA against the
 * engine's device, and hands the engine only the slots captured queued. Completions are
 * read() from the fd. Closing the fd unregisters and unpins, so a killed daemon leaks nothing.
 *
 * Slot states (CAPTURE_SLOT_*, as CAPTURE_IOC_SLOTS reports them):
 *
 *   OWNED ──QUEUE──▶ QUEUED (core FIFO; old frame still readable) ──feed──▶ FILLING (the engine's;
 *   generation odd) ──capture_slot_done──▶ DONE (published; completion not read yet) ──read──▶ OWNED
 *
 * A ring started with CAPTURE_START_RECYCLE keeps its slots: a completed slot goes straight back
 * to the tail of the FIFO (QUEUED, its frame readable), and feeding takes the oldest slot nobody
 * holds (PROTOCOL.md §5.2), so the device never waits for captured.
 */
#include <linux/cdev.h>
#include <linux/crc32.h>
#include <linux/dma-mapping.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/idr.h>
#include <linux/kref.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "capture_compat.h"
#include "capture_core.h"

#ifndef __LITTLE_ENDIAN
#error "the ring layout is little-endian; this driver writes it natively"
#endif

#define DRV "capture_dma"
#define CAPTURE_MAX_DEVICES 64
#define F_SEAL_SHRINK_ 0x0002
#define F_SEAL_GROW_ 0x0004

struct capture_ring {
	struct file *memfd;            /* a reference, so the inode outlives the daemon's fd */
	struct page **pages;
	unsigned long npages;
	u32 slot_count;
	u64 ring_bytes, slots_offset, slot_stride, frame_bytes, descriptors_offset;
	struct sg_table *sgts;         /* one per slot */
	struct capture_slot *slots;    /* what the engine is given, one per slot */
	struct device *dma_dev;        /* the sg tables are mapped against it (a reference), or NULL */
	u64 sg_entries;
	u8 *state;                     /* CAPTURE_SLOT_* per slot */
	u32 *queue;                    /* FIFO of QUEUED slots, not yet the engine's */
	u32 q_head, q_count;
	struct capture_completion *done; /* FIFO of completions, slot_count deep */
	u32 d_head, d_count;
	bool recycle;                  /* CAPTURE_START_RECYCLE: the core recycles the slots itself */
	u32 *holds;                    /* per slot: captured's holds on its frame (CAPTURE_IOC_HOLD) */
};

/* A self-serve client's holds page (struct capture_holds), pinned while registered. */
struct capture_holds_page {
	u32 id;
	u32 limit;
	u64 void_below;
	struct page *page;
	bool retired;                  /* a previous daemon's: dropped by _DROP_RETIRED */
};

struct capture_device {
	struct kref ref;               /* the registration, and each open file */
	int index;
	bool dead;                     /* unregistered: every call but close fails with ENODEV */
	struct cdev *cdev;
	struct device *device;         /* /dev/captureN */
	const struct capture_engine_ops *ops;
	void *priv;
	struct device *dma_dev;
	struct mutex lock;             /* ioctls, register/unregister, start/stop, device removal */
	spinlock_t fifo_lock;          /* queue, done, slot states, the hand-off to the engine */
	wait_queue_head_t readers;     /* completions available */
	bool open;
	bool running;                  /* between start and stop: slots are fed to the engine */
	struct capture_ring *ring;
	u64 sequence;                  /* the device's frame counter */
	u32 engine_held;               /* slots FILLING */
	atomic_t ready;                /* completions waiting; poll() reads only this */
	spinlock_t bell_lock;          /* protects bells */
	struct eventfd_ctx *bells[CAPTURE_MAX_DOORBELLS];
	bool bell_retired[CAPTURE_MAX_DOORBELLS]; /* a previous daemon's: dropped by _DROP_RETIRED */
	u32 n_bells;
	struct capture_holds_page holders[CAPTURE_MAX_HOLDERS]; /* under fifo_lock */
	u32 n_holders;
	atomic64_t frames, overruns, errors;
};

static dev_t capture_devt;
static struct class *capture_class;
static DEFINE_IDA(capture_ida);
/* minor -> registered device; open() looks up here under capture_table_lock */
static struct capture_device *capture_table[CAPTURE_MAX_DEVICES];
static DEFINE_MUTEX(capture_table_lock);

static void capture_dev_free(struct kref *ref)
{
	kfree(container_of(ref, struct capture_device, ref));
}

/* ---- slot descriptors and the ring head: the seqlock readers check (PROTOCOL.md §5) ---- */

static u8 *ring_map(struct capture_ring *r, u64 offset)
{
	return (u8 *)kmap_local_page(r->pages[offset >> PAGE_SHIFT]) + offset_in_page(offset);
}

/* A slot's descriptor, mapped; kunmap_local() it when done. Descriptors never cross a page:
 * they are 64 bytes at 64-byte offsets. */
static struct capture_slot_descriptor *desc_map(struct capture_ring *r, u32 slot)
{
	return (struct capture_slot_descriptor *)ring_map(r, r->descriptors_offset + (u64)slot * sizeof(struct capture_slot_descriptor));
}

/* Generation odd before the device may change a byte of the slot. Caller holds fifo_lock. */
static void desc_begin_fill(struct capture_ring *r, u32 slot)
{
	struct capture_slot_descriptor *d = desc_map(r, slot);
	u64 g = READ_ONCE(d->generation);

	WRITE_ONCE(d->generation, (g & 1) ? g + 2 : g + 1);
	smp_wmb();
	kunmap_local(d);
}

/* Fields, then generation even with release; then the ring head. Caller holds fifo_lock. */
static void desc_publish(struct capture_ring *r, const struct capture_completion *c)
{
	struct capture_slot_descriptor *d = desc_map(r, c->slot);
	struct capture_ring_header *h = (struct capture_ring_header *)ring_map(r, 0);
	u64 g = READ_ONCE(d->generation);

	WRITE_ONCE(d->sequence, c->sequence);
	WRITE_ONCE(d->length, c->bytes);
	WRITE_ONCE(d->timestamp_ns, c->timestamp_ns);
	WRITE_ONCE(d->flags, c->flags);
	WRITE_ONCE(d->checksum, c->checksum);
	smp_store_release(&d->generation, (g & 1) ? g + 1 : g + 2);
	WRITE_ONCE(h->head_slot, (u64)c->slot);
	smp_store_release(&h->head_sequence, c->sequence);
	kunmap_local(h);
	kunmap_local(d);
}

/* ---- the hand-off to the engine ------------------------------------------------------ */

/* Whether a self-serve client holds frame `sequence`: one of the first `limit` entries of its
 * page, at a sequence the daemon has not voided. Caller holds fifo_lock. */
static bool holders_hold(struct capture_device *cd, u64 sequence)
{
	u32 h, i;

	for (h = 0; h < cd->n_holders; h++) {
		struct capture_holds_page *holder = &cd->holders[h];
		const struct capture_holds *page;
		bool held = false;

		if (sequence < holder->void_below)
			continue;
		page = kmap_local_page(holder->page);
		for (i = 0; i < holder->limit && !held; i++)
			held = READ_ONCE(page->held[i]) == sequence;
		kunmap_local(page);
		if (held)
			return true;
	}
	return false;
}

/* Recycling: marks `slot` for filling unless somebody holds its frame. The mark (generation
 * odd) comes before the look at the holds, and a holder stores its hold before it looks at the
 * slot: one of the two sees the other (PROTOCOL.md §5.2). A held slot gets its generation back.
 * Caller holds fifo_lock. */
static bool desc_claim_unheld(struct capture_ring *r, struct capture_device *cd, u32 slot)
{
	struct capture_slot_descriptor *d = desc_map(r, slot);
	u64 g = READ_ONCE(d->generation), sequence = READ_ONCE(d->sequence);
	bool held;

	if (g & 1) {            /* left odd by a stop mid-fill: nothing readable there */
		kunmap_local(d);
		desc_begin_fill(r, slot);
		return true;
	}
	WRITE_ONCE(d->generation, g + 1);
	smp_mb();               /* the mark, then the holds */
	held = g && (r->holds[slot] || holders_hold(cd, sequence));
	if (held)
		smp_store_release(&d->generation, g);
	else
		smp_wmb();      /* the odd generation before any payload byte */
	kunmap_local(d);
	return !held;
}

/* Takes entry `k` out of the queue FIFO, keeping the others' order. Caller holds fifo_lock. */
static void queue_remove(struct capture_ring *r, u32 k)
{
	u32 j;

	for (j = k; j + 1 < r->q_count; j++)
		r->queue[(r->q_head + j) % r->slot_count] = r->queue[(r->q_head + j + 1) % r->slot_count];
	r->q_count--;
}

/* Gives the engine queued slots, oldest first, up to what it wants at once; recycling, the
 * oldest slots nobody holds, and few at a time (a slot handed over early is a frame lost
 * early). Caller holds fifo_lock. */
static void feed_engine(struct capture_device *cd)
{
	struct capture_ring *r = cd->ring;
	u32 most = r && r->recycle ? min_t(u32, cd->ops->max_queued, 2) : cd->ops->max_queued;
	u32 k = 0;

	while (r && cd->running && !cd->dead && cd->engine_held < most && k < r->q_count) {
		u32 slot = r->queue[(r->q_head + k) % r->slot_count];

		if (r->recycle) {
			if (!desc_claim_unheld(r, cd, slot)) {
				k++;    /* held: the next oldest */
				continue;
			}
			queue_remove(r, k);
		} else {
			r->q_head = (r->q_head + 1) % r->slot_count;
			r->q_count--;
			/* Until now the slot's old frame was still readable; from here on it is not. */
			desc_begin_fill(r, slot);
		}
		r->state[slot] = CAPTURE_SLOT_FILLING;
		if (r->dma_dev)
			dma_sync_sgtable_for_device(r->dma_dev, &r->sgts[slot], DMA_FROM_DEVICE);
		cd->engine_held++;
		cd->ops->queue_slot(cd->priv, &r->slots[slot]);
	}
}

/* Logs frames first .. first + count - 1 as never captured in the header's gap log, so a client
 * that reads the ring head itself can tell an overrun from a frame it was late for (PROTOCOL.md
 * §5.1). Caller holds fifo_lock. */
static void gaps_log(struct capture_ring *r, u64 first, u64 count)
{
	struct capture_ring_header *h = (struct capture_ring_header *)ring_map(r, 0);
	u64 written = READ_ONCE(h->gaps_written);
	struct capture_ring_gap *last = written ? &h->gaps[(written - 1) % CAPTURE_RING_GAPS] : NULL;

	if (last && READ_ONCE(last->first) + READ_ONCE(last->count) == first) {
		WRITE_ONCE(last->count, READ_ONCE(last->count) + count);
		smp_store_release(&h->gaps_written, written); /* publishes the longer run */
	} else {
		struct capture_ring_gap *g = &h->gaps[written % CAPTURE_RING_GAPS];

		WRITE_ONCE(g->first, first);
		WRITE_ONCE(g->count, count);
		smp_store_release(&h->gaps_written, written + 1);
	}
	kunmap_local(h);
}

/* The descriptor and head are published: wake the clients that wait on the device itself
 * first, captured (readers) after. */
static void ring_doorbells(struct capture_device *cd)
{
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&cd->bell_lock, flags);
	for (i = 0; i < cd->n_bells; i++)
		capture_eventfd_signal(cd->bells[i]);
	spin_unlock_irqrestore(&cd->bell_lock, flags);
}

void capture_slot_done(struct capture_device *cd, u32 slot, u64 bytes, u32 flags, u32 checksum, u64 timestamp_ns)
{
	struct capture_completion c = { 0 };
	struct capture_ring *r;
	unsigned long irq;

	spin_lock_irqsave(&cd->fifo_lock, irq);
	r = cd->ring;
	if (!r || slot >= r->slot_count || r->state[slot] != CAPTURE_SLOT_FILLING) {
		spin_unlock_irqrestore(&cd->fifo_lock, irq);
		dev_warn_ratelimited(cd->device, "engine %s completed slot %u, which it did not hold; ignored\n", cd->ops->name, slot);
		return;
	}
	if (r->dma_dev)
		dma_sync_sgtable_for_cpu(r->dma_dev, &r->sgts[slot], DMA_FROM_DEVICE);
	cd->engine_held--;
	c.slot = slot;
	c.bytes = min(bytes, r->frame_bytes);
	c.flags = flags;
	c.checksum = checksum;
	c.sequence = ++cd->sequence;
	c.timestamp_ns = timestamp_ns ? timestamp_ns : ktime_get_ns();
	desc_publish(r, &c);
	if (r->recycle) {
		/* Back in line behind every older frame. The record is for the caller's accounting;
		 * a caller that is late loses the oldest ones (it sees a gap in sequence). */
		r->queue[(r->q_head + r->q_count) % r->slot_count] = slot;
		r->q_count++;
		r->state[slot] = CAPTURE_SLOT_QUEUED;
		if (r->d_count == r->slot_count) {
			r->d_head = (r->d_head + 1) % r->slot_count;
			r->d_count--;
			atomic_dec(&cd->ready);
		}
	} else {
		r->state[slot] = CAPTURE_SLOT_DONE;
	}
	/* Not recycling, at most slot_count slots are ever out, so the FIFO cannot overflow. */
	r->done[(r->d_head + r->d_count) % r->slot_count] = c;
	r->d_count++;
	atomic_inc(&cd->ready);
	if (flags & CAPTURE_FRAME_DEVICE_ERROR)
		atomic64_inc(&cd->errors);
	feed_engine(cd);
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	atomic64_inc(&cd->frames);
	ring_doorbells(cd);
	wake_up_interruptible(&cd->readers);
}
EXPORT_SYMBOL_GPL(capture_slot_done);

void capture_frames_lost(struct capture_device *cd, u64 count)
{
	unsigned long irq;

	spin_lock_irqsave(&cd->fifo_lock, irq);
	if (cd->ring && count)
		gaps_log(cd->ring, cd->sequence + 1, count);
	cd->sequence += count;
	/* Recycling, a frame time without a slot may mean every slot was held: look again. */
	feed_engine(cd);
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	atomic64_add(count, &cd->overruns);
}
EXPORT_SYMBOL_GPL(capture_frames_lost);

u64 capture_next_sequence(struct capture_device *cd)
{
	return READ_ONCE(cd->sequence) + 1;
}
EXPORT_SYMBOL_GPL(capture_next_sequence);

u32 capture_slots_held(struct capture_device *cd)
{
	return READ_ONCE(cd->engine_held);
}
EXPORT_SYMBOL_GPL(capture_slots_held);

void capture_slot_sync_for_cpu(struct capture_device *cd, const struct capture_slot *slot)
{
	struct device *dma_dev = READ_ONCE(cd->ring) ? cd->ring->dma_dev : NULL;

	if (dma_dev)
		dma_sync_sgtable_for_cpu(dma_dev, slot->sgt, DMA_FROM_DEVICE);
}
EXPORT_SYMBOL_GPL(capture_slot_sync_for_cpu);

/* Stops the engine and takes back the slots it held: they go to the front of the queue, in
 * their order, to be filled again after the next start. Caller holds cd->lock. */
static void engine_stop(struct capture_device *cd)
{
	struct capture_ring *r = cd->ring;
	unsigned long irq;
	u32 s;

	if (!cd->running)
		return;
	spin_lock_irqsave(&cd->fifo_lock, irq);
	cd->running = false;
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	cd->ops->stop(cd->priv);
	spin_lock_irqsave(&cd->fifo_lock, irq);
	if (r) {
		for (s = 0; s < r->slot_count; s++) {
			if (r->state[s] != CAPTURE_SLOT_FILLING)
				continue;
			r->q_head = (r->q_head + r->slot_count - 1) % r->slot_count;
			r->queue[r->q_head] = s;
			r->q_count++;
			r->state[s] = CAPTURE_SLOT_QUEUED;
		}
	}
	cd->engine_held = 0;
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
}

/* ---- doorbells ------------------------------------------------------------------------ */

static void doorbells_drop(struct capture_device *cd)
{
	unsigned long flags;

	spin_lock_irqsave(&cd->bell_lock, flags);
	while (cd->n_bells)
		eventfd_ctx_put(cd->bells[--cd->n_bells]);
	spin_unlock_irqrestore(&cd->bell_lock, flags);
}

static long doorbell_ioctl(struct capture_device *cd, void __user *uarg)
{
	struct capture_doorbell req;
	struct eventfd_ctx *ctx;
	unsigned long flags;
	long ret = 0;
	u32 i;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.op == CAPTURE_DOORBELL_CLEAR) {
		doorbells_drop(cd);
		return 0;
	}
	if (req.op == CAPTURE_DOORBELL_RETIRE || req.op == CAPTURE_DOORBELL_DROP_RETIRED) {
		struct eventfd_ctx *gone[CAPTURE_MAX_DOORBELLS];
		u32 n = 0;

		spin_lock_irqsave(&cd->bell_lock, flags);
		for (i = 0; i < cd->n_bells;) {
			if (req.op == CAPTURE_DOORBELL_RETIRE) {
				cd->bell_retired[i++] = true;
			} else if (cd->bell_retired[i]) {
				gone[n++] = cd->bells[i];
				cd->n_bells--;
				cd->bells[i] = cd->bells[cd->n_bells];
				cd->bell_retired[i] = cd->bell_retired[cd->n_bells];
			} else {
				i++;
			}
		}
		spin_unlock_irqrestore(&cd->bell_lock, flags);
		while (n)
			eventfd_ctx_put(gone[--n]);
		return 0;
	}
	if (req.op != CAPTURE_DOORBELL_ADD && req.op != CAPTURE_DOORBELL_REMOVE)
		return -EINVAL;
	ctx = eventfd_ctx_fdget(req.fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx); /* EBADF, or EINVAL for a descriptor that is not an eventfd */
	spin_lock_irqsave(&cd->bell_lock, flags);
	if (req.op == CAPTURE_DOORBELL_ADD) {
		if (cd->n_bells < CAPTURE_MAX_DOORBELLS) {
			cd->bell_retired[cd->n_bells] = false;
			cd->bells[cd->n_bells++] = ctx; /* the table keeps fdget's reference */
		} else {
			ret = -ENOSPC;
		}
	} else {
		ret = -ENOENT;
		for (i = 0; i < cd->n_bells; i++) {
			if (cd->bells[i] == ctx) {
				eventfd_ctx_put(cd->bells[i]);
				cd->n_bells--;
				cd->bells[i] = cd->bells[cd->n_bells];
				cd->bell_retired[i] = cd->bell_retired[cd->n_bells];
				ret = 0;
				break;
			}
		}
	}
	spin_unlock_irqrestore(&cd->bell_lock, flags);
	if (req.op == CAPTURE_DOORBELL_REMOVE || ret)
		eventfd_ctx_put(ctx);
	return ret;
}

/* ---- registration --------------------------------------------------------------------- */

static unsigned int memfd_seals(struct file *file, bool *is_memfd_fs)
{
	struct inode *inode = file_inode(file);

	*is_memfd_fs = true;
	if (inode->i_sb->s_magic == TMPFS_MAGIC && shmem_mapping(file->f_mapping))
		return SHMEM_I(inode)->seals;
#ifdef CONFIG_HUGETLBFS
	if (inode->i_sb->s_magic == HUGETLBFS_MAGIC)
		return HUGETLBFS_I(inode)->seals;
#endif
	*is_memfd_fs = false;
	return 0;
}

/* Unmaps the slots from the engine's device: before that device may go away. */
static void ring_dma_unmap(struct capture_ring *r)
{
	u32 s;

	if (!r || !r->dma_dev)
		return;
	for (s = 0; s < r->slot_count; s++)
		if (r->sgts[s].nents)
			dma_unmap_sgtable(r->dma_dev, &r->sgts[s], DMA_FROM_DEVICE, 0);
	put_device(r->dma_dev);
	r->dma_dev = NULL;
}

/* Unmaps, unpins (marking the pages dirty) and forgets the ring. Caller holds cd->lock and
 * has stopped the engine. */
static void ring_free(struct capture_device *cd)
{
	struct capture_ring *r = cd->ring;
	unsigned long irq;
	u32 s;

	if (!r)
		return;
	spin_lock_irqsave(&cd->fifo_lock, irq);
	cd->ring = NULL;
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	ring_dma_unmap(r);
	if (r->sgts) {
		for (s = 0; s < r->slot_count; s++)
			sg_free_table(&r->sgts[s]);
		kvfree(r->sgts);
	}
	if (r->pages) {
		if (r->npages)
			unpin_user_pages_dirty_lock(r->pages, r->npages, true);
		kvfree(r->pages);
	}
	kvfree(r->slots);
	kvfree(r->state);
	kvfree(r->queue);
	kvfree(r->done);
	kvfree(r->holds);
	if (r->memfd)
		fput(r->memfd);
	kfree(r);
	atomic_set(&cd->ready, 0);
	wake_up_interruptible(&cd->readers);
}

static int do_register(struct capture_device *cd, struct capture_register __user *arg)
{
	struct capture_register req;
	struct capture_ring *r;
	struct vm_area_struct *vma;
	bool memfd_fs;
	unsigned int seals;
	unsigned long irq;
	long pinned;
	unsigned long i;
	u32 s;
	int err;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (cd->ring) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: a ring is already registered\n");
		return -EBUSY;
	}
	if (!req.slot_count || req.slot_count > CAPTURE_DMA_MAX_SLOTS || !req.ring_bytes ||
	    !PAGE_ALIGNED(req.user_address) || !PAGE_ALIGNED(req.slots_offset) ||
	    !PAGE_ALIGNED(req.slot_stride) || !PAGE_ALIGNED(req.ring_bytes) || !req.slot_stride ||
	    req.frame_bytes > req.slot_stride || !req.frame_bytes ||
	    req.slots_offset + (u64)req.slot_count * req.slot_stride != req.ring_bytes ||
	    req.layout_version != CAPTURE_RING_LAYOUT_VERSION || req.descriptor_bytes != CAPTURE_RING_DESCRIPTOR_BYTES ||
	    req.descriptors_offset < sizeof(struct capture_ring_header) || req.descriptors_offset % CAPTURE_RING_DESCRIPTOR_BYTES ||
	    req.descriptors_offset + (u64)req.slot_count * CAPTURE_RING_DESCRIPTOR_BYTES > req.slots_offset) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: geometry is not page-aligned or does not add up\n");
		return -EINVAL;
	}

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->slot_count = req.slot_count;
	r->ring_bytes = req.ring_bytes;
	r->slots_offset = req.slots_offset;
	r->slot_stride = req.slot_stride;
	r->frame_bytes = req.frame_bytes;
	r->descriptors_offset = req.descriptors_offset;
	spin_lock_irqsave(&cd->fifo_lock, irq);
	cd->ring = r;
	spin_unlock_irqrestore(&cd->fifo_lock, irq);

	r->memfd = fget(req.memfd);
	if (!r->memfd) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: fd %d is not open\n", req.memfd);
		err = -EBADF;
		goto fail;
	}
	seals = memfd_seals(r->memfd, &memfd_fs);
	if (!memfd_fs) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: fd %d is not a memfd (shmem or hugetlbfs)\n", req.memfd);
		err = -EINVAL;
		goto fail;
	}
	if ((seals & (F_SEAL_SHRINK_ | F_SEAL_GROW_)) != (F_SEAL_SHRINK_ | F_SEAL_GROW_)) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: memfd lacks F_SEAL_SHRINK|F_SEAL_GROW (seals 0x%x)\n", seals);
		err = -EPERM;
		goto fail;
	}
	if (i_size_read(file_inode(r->memfd)) != req.ring_bytes) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: ring_bytes %llu is not the memfd size %lld\n",
				     req.ring_bytes, i_size_read(file_inode(r->memfd)));
		err = -EINVAL;
		goto fail;
	}

	/* The address must be the caller's shared writable mapping of this very memfd. */
	mmap_read_lock(current->mm);
	vma = vma_lookup(current->mm, req.user_address);
	err = 0;
	if (!vma || !vma->vm_file || file_inode(vma->vm_file) != file_inode(r->memfd) || vma->vm_pgoff ||
	    vma->vm_start != req.user_address || vma->vm_end - vma->vm_start < req.ring_bytes ||
	    !(vma->vm_flags & VM_SHARED) || !(vma->vm_flags & VM_WRITE))
		err = -EINVAL;
	mmap_read_unlock(current->mm);
	if (err) {
		dev_info_ratelimited(cd->device, "REGISTER_RING: address 0x%llx is not a shared writable mapping of the whole memfd\n",
				     req.user_address);
		goto fail;
	}

	r->npages = req.ring_bytes >> PAGE_SHIFT;
	r->pages = kvcalloc(r->npages, sizeof(*r->pages), GFP_KERNEL);
	r->state = kvcalloc(r->slot_count, sizeof(*r->state), GFP_KERNEL);
	r->queue = kvcalloc(r->slot_count, sizeof(*r->queue), GFP_KERNEL);
	r->done = kvcalloc(r->slot_count, sizeof(*r->done), GFP_KERNEL);
	r->holds = kvcalloc(r->slot_count, sizeof(*r->holds), GFP_KERNEL);
	r->sgts = kvcalloc(r->slot_count, sizeof(*r->sgts), GFP_KERNEL);
	r->slots = kvcalloc(r->slot_count, sizeof(*r->slots), GFP_KERNEL);
	if (!r->pages || !r->state || !r->queue || !r->done || !r->holds || !r->sgts || !r->slots) {
		r->npages = 0;
		err = -ENOMEM;
		goto fail;
	}

	/* Every page exactly once, for the life of the registration. */
	pinned = pin_user_pages_fast(req.user_address, r->npages, FOLL_WRITE | FOLL_LONGTERM, r->pages);
	if (pinned != r->npages) {
		if (pinned > 0)
			unpin_user_pages(r->pages, pinned);
		dev_info_ratelimited(cd->device, "REGISTER_RING: pinned %ld of %lu pages\n", pinned, r->npages);
		r->npages = 0;
		err = pinned < 0 ? pinned : -EFAULT;
		goto fail;
	}
	for (i = 0; i < r->npages; i++) {
		if (page_folio(r->pages[i])->mapping != r->memfd->f_mapping) {
			dev_info_ratelimited(cd->device, "REGISTER_RING: page %lu is not the memfd's\n", i);
			err = -EINVAL;
			goto fail;
		}
	}

	for (s = 0; s < r->slot_count; s++) {
		unsigned long first = (r->slots_offset + (u64)s * r->slot_stride) >> PAGE_SHIFT;
		unsigned int n = DIV_ROUND_UP(r->frame_bytes, PAGE_SIZE);

		err = sg_alloc_table_from_pages(&r->sgts[s], r->pages + first, n, 0, r->frame_bytes, GFP_KERNEL);
		if (err)
			goto fail;
		r->sg_entries += r->sgts[s].orig_nents;
		r->slots[s] = (struct capture_slot){ .index = s, .frame_bytes = r->frame_bytes, .sgt = &r->sgts[s],
						     .pages = r->pages + first, .npages = n };
	}
	/* Mapped once, against the engine's own device: its DMA mask and IOMMU apply. */
	if (cd->dma_dev) {
		r->dma_dev = get_device(cd->dma_dev);
		for (s = 0; s < r->slot_count; s++) {
			err = dma_map_sgtable(r->dma_dev, &r->sgts[s], DMA_FROM_DEVICE, 0);
			if (err) {
				dev_info_ratelimited(cd->device, "REGISTER_RING: cannot map slot %u for DMA by %s (%d)\n",
						     s, dev_name(r->dma_dev), err);
				for (; s > 0; s--)
					dma_unmap_sgtable(r->dma_dev, &r->sgts[s - 1], DMA_FROM_DEVICE, 0);
				put_device(r->dma_dev);
				r->dma_dev = NULL;
				goto fail;
			}
		}
	}
	dev_info(cd->device, "ring registered: %u slots of %llu bytes, %lu pages pinned, %llu S/G entries%s%s\n",
		 r->slot_count, r->slot_stride, r->npages, r->sg_entries,
		 r->dma_dev ? ", mapped for DMA by " : "", r->dma_dev ? dev_name(r->dma_dev) : "");
	return 0;

fail:
	ring_free(cd);
	return err;
}

static int do_queue(struct capture_device *cd, struct capture_queue __user *arg)
{
	struct capture_queue req;
	struct capture_ring *r = cd->ring;
	unsigned long irq;
	u32 *slots;
	u32 i;
	int err = 0;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (!r)
		return -ENXIO;
	if (!req.count || req.count > r->slot_count)
		return -EINVAL;
	slots = kvmalloc_array(req.count, sizeof(u32), GFP_KERNEL);
	if (!slots)
		return -ENOMEM;
	if (copy_from_user(slots, u64_to_user_ptr(req.slots), req.count * sizeof(u32))) {
		kvfree(slots);
		return -EFAULT;
	}
	spin_lock_irqsave(&cd->fifo_lock, irq);
	/* All or nothing: check every slot first. */
	for (i = 0; i < req.count; i++) {
		if (slots[i] >= r->slot_count) {
			err = -EINVAL;
			break;
		}
		if (r->state[slots[i]] != CAPTURE_SLOT_OWNED) {
			err = -EBUSY;
			break;
		}
	}
	if (!err) {
		for (i = 0; i < req.count; i++) {
			r->queue[(r->q_head + r->q_count) % r->slot_count] = slots[i];
			r->q_count++;
			r->state[slots[i]] = CAPTURE_SLOT_QUEUED;
		}
		feed_engine(cd);
	}
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	if (err == -EINVAL)
		dev_info_ratelimited(cd->device, "QUEUE: slot %u is not in the ring of %u\n", slots[i], r->slot_count);
	else if (err == -EBUSY)
		dev_info_ratelimited(cd->device, "QUEUE: slot %u is not free (queued or being filled)\n", slots[i]);
	kvfree(slots);
	return err;
}

static int do_start(struct capture_device *cd, struct capture_start __user *arg)
{
	struct capture_stream_params params;
	struct capture_start req;
	unsigned long irq;
	int err;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (!cd->ring)
		return -ENXIO;
	if (cd->running)
		return -EBUSY;
	if (req.payload != CAPTURE_PAYLOAD_PATTERN && req.payload != CAPTURE_PAYLOAD_HEADER)
		return -EINVAL;
	if (req.flags & ~CAPTURE_START_RECYCLE)
		return -EINVAL;
	params = (struct capture_stream_params){ .frame_rate_mhz = req.frame_rate_mhz, .payload = req.payload,
						 .frame_bytes = cd->ring->frame_bytes };
	err = cd->ops->start(cd->priv, &params);
	if (err)
		return err;
	spin_lock_irqsave(&cd->fifo_lock, irq);
	cd->running = true;
	if (req.flags & CAPTURE_START_RECYCLE)
		cd->ring->recycle = true; /* for the ring's life: its slots are the core's now */
	feed_engine(cd);
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	return 0;
}

/* ---- holders (recycling) ---------------------------------------------------------------- */

/* captured's holds on slots (leases it grants by message). Under fifo_lock, so a hold and the
 * core's choice of the slot are ordered: the caller then checks that its frame is still there. */
static long hold_ioctl(struct capture_device *cd, void __user *uarg)
{
	struct capture_hold req;
	struct capture_ring *r = cd->ring;
	unsigned long irq;
	long ret = 0;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (!r)
		return -ENXIO;
	spin_lock_irqsave(&cd->fifo_lock, irq);
	if (req.slot == CAPTURE_HOLD_ALL_SLOTS && req.delta == 0)
		memset(r->holds, 0, r->slot_count * sizeof(*r->holds));
	else if (req.slot >= r->slot_count || (req.delta != 1 && req.delta != -1) || (req.delta < 0 && !r->holds[req.slot]))
		ret = -EINVAL;
	else
		r->holds[req.slot] += req.delta;
	if (!ret && req.delta <= 0)
		feed_engine(cd);        /* a slot a waiting engine needs may be free now */
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	return ret;
}

/* Forgets every page, or only the retired ones, and unpins them. */
static void holders_drop(struct capture_device *cd, bool only_retired)
{
	struct page *pages[CAPTURE_MAX_HOLDERS];
	unsigned long irq;
	u32 n = 0, i;

	spin_lock_irqsave(&cd->fifo_lock, irq);
	for (i = 0; i < cd->n_holders;) {
		if (only_retired && !cd->holders[i].retired) {
			i++;
			continue;
		}
		pages[n++] = cd->holders[i].page;
		cd->holders[i] = cd->holders[--cd->n_holders];
	}
	feed_engine(cd);        /* the holds are gone: a waiting engine may take their slots */
	spin_unlock_irqrestore(&cd->fifo_lock, irq);
	while (n)
		unpin_user_page(pages[--n]);
}

static long holder_ioctl(struct capture_device *cd, void __user *uarg)
{
	struct capture_holder req;
	struct vm_area_struct *vma;
	struct page *page = NULL;
	unsigned long irq;
	long ret = 0;
	u32 i;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	switch (req.op) {
	case CAPTURE_HOLDER_CLEAR:
	case CAPTURE_HOLDER_DROP_RETIRED:
		holders_drop(cd, req.op == CAPTURE_HOLDER_DROP_RETIRED);
		return 0;
	case CAPTURE_HOLDER_RETIRE:
		spin_lock_irqsave(&cd->fifo_lock, irq);
		for (i = 0; i < cd->n_holders; i++)
			cd->holders[i].retired = true;
		spin_unlock_irqrestore(&cd->fifo_lock, irq);
		return 0;
	case CAPTURE_HOLDER_ADD:
		if (req.limit > CAPTURE_HOLDS_ENTRIES || !PAGE_ALIGNED(req.user_address))
			return -EINVAL;
		/* A page of a memfd (shmem), like the ring: pinned long-term, never anonymous memory. */
		mmap_read_lock(current->mm);
		vma = vma_lookup(current->mm, req.user_address);
		if (!vma || !vma->vm_file || !shmem_mapping(vma->vm_file->f_mapping) || !(vma->vm_flags & VM_SHARED))
			ret = -EINVAL;
		mmap_read_unlock(current->mm);
		if (ret) {
			dev_info_ratelimited(cd->device, "HOLDER: address 0x%llx is not a shared mapping of a memfd\n", req.user_address);
			return ret;
		}
		if (pin_user_pages_fast(req.user_address, 1, FOLL_LONGTERM, &page) != 1)
			return -EFAULT;
		spin_lock_irqsave(&cd->fifo_lock, irq);
		for (i = 0; i < cd->n_holders; i++)
			if (cd->holders[i].id == req.id && !cd->holders[i].retired)
				ret = -EEXIST;
		if (!ret && cd->n_holders == CAPTURE_MAX_HOLDERS)
			ret = -ENOSPC;
		if (!ret)
			cd->holders[cd->n_holders++] = (struct capture_holds_page){ .id = req.id, .limit = req.limit, .page = page };
		spin_unlock_irqrestore(&cd->fifo_lock, irq);
		if (ret)
			unpin_user_page(page);
		return ret;
	case CAPTURE_HOLDER_REMOVE:
	case CAPTURE_HOLDER_REVOKE:
		ret = -ENOENT;
		spin_lock_irqsave(&cd->fifo_lock, irq);
		for (i = 0; i < cd->n_holders; i++) {
			if (cd->holders[i].id != req.id || cd->holders[i].retired)
				continue;   /* a predecessor's page of the same name is not this one */
			ret = 0;
			if (req.op == CAPTURE_HOLDER_REVOKE) {
				cd->holders[i].void_below = max(cd->holders[i].void_below, req.void_below);
			} else {
				page = cd->holders[i].page;
				cd->holders[i] = cd->holders[--cd->n_holders];
			}
			break;
		}
		/* Released holds may free the slot a waiting engine needs. */
		feed_engine(cd);
		spin_unlock_irqrestore(&cd->fifo_lock, irq);
		if (page)
			unpin_user_page(page);
		return ret;
	default:
		return -EINVAL;
	}
}

static long capture_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct capture_device *cd = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned long irq;
	long ret = 0;

	mutex_lock(&cd->lock);
	if (cd->dead) {
		mutex_unlock(&cd->lock);
		return -ENODEV;
	}
	switch (cmd) {
	case CAPTURE_IOC_INFO: {
		struct capture_info info = {
			.abi_version = CAPTURE_DMA_ABI_VERSION,
			.max_slots = CAPTURE_DMA_MAX_SLOTS,
			.engine = cd->ops->engine_id,
			.max_ring_bytes = 1ULL << 40,
		};
		strscpy(info.engine_name, cd->ops->name, sizeof(info.engine_name));
		if (copy_to_user(uarg, &info, sizeof(info)))
			ret = -EFAULT;
		break;
	}
	case CAPTURE_IOC_REGISTER_RING:
		ret = do_register(cd, uarg);
		break;
	case CAPTURE_IOC_QUEUE:
		ret = do_queue(cd, uarg);
		break;
	case CAPTURE_IOC_START:
		ret = do_start(cd, uarg);
		break;
	case CAPTURE_IOC_STOP:
		engine_stop(cd);
		break;
	case CAPTURE_IOC_STATS: {
		struct capture_stats st = {
			.frames = atomic64_read(&cd->frames),
			.overruns = atomic64_read(&cd->overruns),
			.errors = atomic64_read(&cd->errors),
			.pinned_pages = cd->ring ? cd->ring->npages : 0,
			.sg_entries = cd->ring ? cd->ring->sg_entries : 0,
			.queued = cd->ring ? READ_ONCE(cd->ring->q_count) + READ_ONCE(cd->engine_held) : 0,
			.recycling = cd->ring ? READ_ONCE(cd->ring->recycle) : 0,
		};
		if (copy_to_user(uarg, &st, sizeof(st)))
			ret = -EFAULT;
		break;
	}
	case CAPTURE_IOC_SLOTS: {
		struct capture_slots req;
		u8 *states;
		u32 n;

		if (copy_from_user(&req, uarg, sizeof(req))) {
			ret = -EFAULT;
			break;
		}
		if (!cd->ring) {
			ret = -ENXIO;
			break;
		}
		n = min(req.count, cd->ring->slot_count);
		states = kvmalloc(n ? n : 1, GFP_KERNEL);
		if (!states) {
			ret = -ENOMEM;
			break;
		}
		spin_lock_irqsave(&cd->fifo_lock, irq);
		memcpy(states, cd->ring->state, n);
		spin_unlock_irqrestore(&cd->fifo_lock, irq);
		if (copy_to_user(u64_to_user_ptr(req.states), states, n))
			ret = -EFAULT;
		kvfree(states);
		break;
	}
	case CAPTURE_IOC_UNREGISTER:
		engine_stop(cd);
		ring_free(cd);
		break;
	case CAPTURE_IOC_DOORBELL:
		ret = doorbell_ioctl(cd, uarg);
		break;
	case CAPTURE_IOC_HOLDER:
		ret = holder_ioctl(cd, uarg);
		break;
	case CAPTURE_IOC_HOLD:
		ret = hold_ioctl(cd, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&cd->lock);
	return ret;
}

/* Whole completion records only. The ring is looked at under the mutex, so an UNREGISTER
 * from another thread cannot free it under us. */
static ssize_t capture_read(struct file *file, char __user *buf, size_t len, loff_t *off)
{
	struct capture_device *cd = file->private_data;
	size_t want = len / sizeof(struct capture_completion), got = 0;
	unsigned long irq;
	int err;

	if (!want)
		return -EINVAL;
	for (;;) {
		struct capture_ring *r;

		mutex_lock(&cd->lock);
		r = cd->ring;
		if (cd->dead || !r) {
			mutex_unlock(&cd->lock);
			return cd->dead ? -ENODEV : -ENXIO;
		}
		while (got < want) {
			struct capture_completion c;

			spin_lock_irqsave(&cd->fifo_lock, irq);
			if (!r->d_count) {
				spin_unlock_irqrestore(&cd->fifo_lock, irq);
				break;
			}
			c = r->done[r->d_head];
			r->d_head = (r->d_head + 1) % r->slot_count;
			r->d_count--;
			if (!r->recycle)
				r->state[c.slot] = CAPTURE_SLOT_OWNED;
			atomic_dec(&cd->ready);
			spin_unlock_irqrestore(&cd->fifo_lock, irq);
			if (copy_to_user(buf + got * sizeof(c), &c, sizeof(c))) {
				atomic64_inc(&cd->errors);
				mutex_unlock(&cd->lock);
				return got ? got * sizeof(c) : -EFAULT;
			}
			got++;
		}
		mutex_unlock(&cd->lock);
		if (got)
			return got * sizeof(struct capture_completion);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		err = wait_event_interruptible(cd->readers, atomic_read(&cd->ready) || !READ_ONCE(cd->ring) || READ_ONCE(cd->dead));
		if (err)
			return err;
	}
}

static __poll_t capture_poll(struct file *file, poll_table *wait)
{
	struct capture_device *cd = file->private_data;

	poll_wait(file, &cd->readers, wait);
	if (READ_ONCE(cd->dead))
		return EPOLLHUP | EPOLLERR;
	return atomic_read(&cd->ready) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int capture_open(struct inode *inode, struct file *file)
{
	struct capture_device *cd;
	unsigned int minor = iminor(inode);

	mutex_lock(&capture_table_lock);
	cd = minor < ARRAY_SIZE(capture_table) ? capture_table[minor] : NULL;
	if (cd)
		kref_get(&cd->ref);
	mutex_unlock(&capture_table_lock);
	if (!cd)
		return -ENODEV;
	mutex_lock(&cd->lock);
	if (cd->open || cd->dead) {
		int err = cd->dead ? -ENODEV : -EBUSY;   /* one owner: captured */

		mutex_unlock(&cd->lock);
		kref_put(&cd->ref, capture_dev_free);
		return err;
	}
	cd->open = true;
	cd->sequence = 0;
	mutex_unlock(&cd->lock);
	file->private_data = cd;
	return nonseekable_open(inode, file);
}

static int capture_release(struct inode *inode, struct file *file)
{
	struct capture_device *cd = file->private_data;

	mutex_lock(&cd->lock);
	if (!cd->dead)
		engine_stop(cd);
	if (cd->ring)
		pr_info(DRV ": capture%d closed: unpinning %lu pages\n", cd->index, cd->ring->npages);
	ring_free(cd);
	doorbells_drop(cd);
	holders_drop(cd, false);
	cd->open = false;
	mutex_unlock(&cd->lock);
	kref_put(&cd->ref, capture_dev_free);
	return 0;
}

static const struct file_operations capture_fops = {
	.owner = THIS_MODULE,
	.open = capture_open,
	.release = capture_release,
	.read = capture_read,
	.poll = capture_poll,
	.unlocked_ioctl = capture_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = CAPTURE_NO_LLSEEK,
};

static char *capture_devnode(CAPTURE_DEVNODE_DEVICE *dev, umode_t *mode)
{
	if (mode)
		*mode = 0660;
	return NULL;
}

/* ---- devices coming and going --------------------------------------------------------- */

struct capture_device *capture_device_register(const struct capture_engine_ops *ops, struct device *parent,
					       struct device *dma_dev, void *priv)
{
	struct capture_device *cd;
	int err, index;

	if (!ops || !ops->start || !ops->stop || !ops->queue_slot || !ops->max_queued || !ops->name)
		return ERR_PTR(-EINVAL);
	index = ida_alloc_max(&capture_ida, CAPTURE_MAX_DEVICES - 1, GFP_KERNEL);
	if (index < 0)
		return ERR_PTR(index);
	cd = kzalloc(sizeof(*cd), GFP_KERNEL);
	if (!cd) {
		ida_free(&capture_ida, index);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&cd->ref);
	cd->index = index;
	cd->ops = ops;
	cd->priv = priv;
	cd->dma_dev = dma_dev;
	mutex_init(&cd->lock);
	spin_lock_init(&cd->fifo_lock);
	spin_lock_init(&cd->bell_lock);
	init_waitqueue_head(&cd->readers);
	cd->cdev = cdev_alloc();
	if (!cd->cdev) {
		err = -ENOMEM;
		goto free;
	}
	cd->cdev->ops = &capture_fops;
	cd->cdev->owner = THIS_MODULE;
	err = cdev_add(cd->cdev, MKDEV(MAJOR(capture_devt), index), 1);
	if (err)
		goto put_cdev;
	mutex_lock(&capture_table_lock);
	capture_table[index] = cd;
	mutex_unlock(&capture_table_lock);
	cd->device = device_create(capture_class, parent, MKDEV(MAJOR(capture_devt), index), cd, "capture%d", index);
	if (IS_ERR(cd->device)) {
		err = PTR_ERR(cd->device);
		goto untable;
	}
	dev_info(cd->device, "%s engine%s%s\n", ops->name, dma_dev ? ", DMA by " : "", dma_dev ? dev_name(dma_dev) : "");
	return cd;

untable:
	mutex_lock(&capture_table_lock);
	capture_table[index] = NULL;
	mutex_unlock(&capture_table_lock);
	cdev_del(cd->cdev);
	goto free;
put_cdev:
	kobject_put(&cd->cdev->kobj);
free:
	kfree(cd);
	ida_free(&capture_ida, index);
	return ERR_PTR(err);
}
EXPORT_SYMBOL_GPL(capture_device_register);

void capture_device_unregister(struct capture_device *cd)
{
	bool was_open;

	mutex_lock(&capture_table_lock);
	capture_table[cd->index] = NULL;
	mutex_unlock(&capture_table_lock);
	mutex_lock(&cd->lock);
	engine_stop(cd);
	cd->dead = true;
	/* The engine's device may go away with this call: no DMA mapping may outlive it. */
	ring_dma_unmap(cd->ring);
	was_open = cd->open;
	mutex_unlock(&cd->lock);
	wake_up_interruptible(&cd->readers);
	device_destroy(capture_class, MKDEV(MAJOR(capture_devt), cd->index));
	cdev_del(cd->cdev);
	/* The number is free again: a device that comes back gets its old name, even while the
	 * dead one is still open (its file no longer reaches it through the minor). */
	ida_free(&capture_ida, cd->index);
	pr_info(DRV ": capture%d removed%s\n", cd->index, was_open ? " while open: the owner gets ENODEV" : "");
	kref_put(&cd->ref, capture_dev_free);
}
EXPORT_SYMBOL_GPL(capture_device_unregister);

static int __init capture_init(void)
{
	int err;

	err = alloc_chrdev_region(&capture_devt, 0, CAPTURE_MAX_DEVICES, "capture");
	if (err)
		return err;
	capture_class = capture_class_create("capture");
	if (IS_ERR(capture_class)) {
		unregister_chrdev_region(capture_devt, CAPTURE_MAX_DEVICES);
		return PTR_ERR(capture_class);
	}
	capture_class->devnode = capture_devnode;
	pr_info(DRV ": capture core, ABI %d; engines register devices\n", CAPTURE_DMA_ABI_VERSION);
	return 0;
}

static void __exit capture_exit(void)
{
	class_destroy(capture_class);
	unregister_chrdev_region(capture_devt, CAPTURE_MAX_DEVICES);
}

module_init(capture_init);
module_exit(capture_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("capture core: pins a daemon-owned memfd ring once and hands its slots to a capture engine");
