// SPDX-License-Identifier: GPL-2.0
/*
 * capture_dma: the thin char driver between captured and a capture device.
 *
 * The driver owns no buffer memory. captured registers one sealed memfd ring per device
 * together with its own read-write mapping of it; the driver pins every page of that mapping
 * exactly once with pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) — shmem or hugetlb pages
 * only, never anonymous memory — builds one scatter-gather table per slot, and fills only the
 * slots captured queues. Completions are read() from the fd. Closing the fd unregisters and
 * unpins, so a killed daemon leaks nothing.
 *
 * Each device is a platform device bound to this driver, so it can go away under an open
 * file, as hardware does on hot-unplug: `echo capture_dma.0 > /sys/bus/platform/drivers/
 * capture_dma/unbind` removes /dev/capture0 (udev sees "remove"), the open file then gets
 * ENODEV and POLLHUP, and its last close unpins. Binding again brings /dev/capture0 back.
 *
 * With no capture hardware, the `loopback` engine (module parameter engine=loopback) is a
 * kernel thread that writes frames through the pinned pages at the rate START asks for, with
 * the same deterministic pattern and CRC-32 as captured's synthetic device.
 */
#include <linux/cdev.h>
#include <linux/crc32.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/kthread.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/kref.h>
#include <linux/dma-mapping.h>
#include <linux/eventfd.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "uapi/capture_dma.h"

#ifndef __LITTLE_ENDIAN
#error "the ring layout is little-endian; this driver writes it natively"
#endif

#define DRV "capture_dma"
#define F_SEAL_SHRINK_ 0x0002
#define F_SEAL_GROW_ 0x0004

static unsigned int devices = 1;
module_param(devices, uint, 0444);
MODULE_PARM_DESC(devices, "number of /dev/captureN devices (1-8)");

static char *engine = "loopback";
module_param(engine, charp, 0444);
MODULE_PARM_DESC(engine, "what fills the slots: loopback (a kernel thread), edu (QEMU's edu PCI device, by real DMA) or none");

enum slot_state {
	SLOT_OWNED = CAPTURE_SLOT_OWNED,
	SLOT_QUEUED = CAPTURE_SLOT_QUEUED,
	SLOT_FILLING = CAPTURE_SLOT_FILLING,
	SLOT_DONE = CAPTURE_SLOT_DONE,   /* until read() hands the completion over */
};

struct capture_ring {
	struct file *memfd;            /* a reference, so the inode outlives the daemon's fd */
	struct page **pages;
	unsigned long npages;
	u32 slot_count;
	u64 ring_bytes, slots_offset, slot_stride, frame_bytes, descriptors_offset;
	struct sg_table *sgts;         /* one per slot */
	u64 sg_entries;
	u8 *state;                     /* enum slot_state per slot */
	u32 *queue;                    /* FIFO of queued slots */
	u32 q_head, q_count;
	struct capture_completion *done; /* FIFO of completions, slot_count deep */
	u32 d_head, d_count;
};

struct capture_dev {
	struct kref ref;               /* the bound device, and each open file */
	int index;
	bool dead;                     /* removed: every call but close fails with ENODEV */
	struct cdev *cdev;
	struct device *device;
	struct mutex lock;             /* serialises ioctls, register/unregister */
	spinlock_t fifo_lock;          /* protects queue, done and slot states */
	wait_queue_head_t readers;     /* completions available */
	wait_queue_head_t engine_wq;   /* slots queued, or stop */
	bool open;
	struct capture_ring *ring;
	struct task_struct *thread;
	u32 rate_mhz, payload;
	u64 sequence;
	atomic_t ready;                /* completions waiting; poll() reads only this */
	spinlock_t bell_lock;          /* protects bells */
	struct eventfd_ctx *bells[CAPTURE_MAX_DOORBELLS];
	u32 n_bells;
	atomic64_t frames, overruns, errors;
};

static dev_t capture_devt;
static struct class *capture_class;
static bool loopback_engine;
static bool edu_engine;

/* QEMU's edu device: one DMA of at most 4 KiB into or out of its own buffer per command.
 * The harness gives it a 32-bit DMA mask (-device edu,dma_mask=0xffffffff): with its default
 * 28 bits, swiotlb's bounce pool (placed high in the guest) is out of its reach. */
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_RUN 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUFFER 0x40000
#define EDU_BUFFER_BYTES 4096
/* QEMU 7.2's edu rejects a transfer that ends exactly at the end of its buffer (an off-by-one
 * in its range check, fatal to the VM), so transfers stay at half the buffer. */
#define EDU_CHUNK_BYTES 2048

struct capture_edu {
	struct pci_dev *pdev;
	void __iomem *mmio;
	u8 *staging;                   /* coherent, below the 28-bit mask */
	dma_addr_t staging_dma;
	u64 transfers;
	u64 frames;
	u64 bounced_frames;            /* frames with a page edu cannot address: swiotlb carried them */
};
static struct capture_edu *edu;
/* minor -> bound device; open() looks up here under capture_table_lock */
static struct capture_dev *capture_table[8];
static DEFINE_MUTEX(capture_table_lock);
static struct platform_device *capture_pdevs[8];

static void capture_dev_free(struct kref *ref)
{
	kfree(container_of(ref, struct capture_dev, ref));
}

/* ---- pattern and checksum: identical to captured's synthetic device ---------------- */
#define PATTERN_BASE CAPTURE_PATTERN_BASE
#define PATTERN_STEP CAPTURE_PATTERN_STEP

/* Writes the frame through the pinned pages (slots are page-aligned, so no word crosses a
 * page); returns the CRC-32 when the payload is a pattern. */
static u32 loopback_fill(struct capture_dev *cd, struct capture_ring *r, u32 slot, u64 seq)
{
	unsigned long first = (r->slots_offset + (u64)slot * r->slot_stride) >> PAGE_SHIFT;
	u64 remaining = r->frame_bytes, word = 0, base = seq * PATTERN_BASE;
	u32 crc = ~0U;
	unsigned long p;

	for (p = first; remaining > 0; p++) {
		size_t n = min_t(u64, remaining, PAGE_SIZE), i;
		u8 *va = kmap_local_page(r->pages[p]);

		if (cd->payload == CAPTURE_PAYLOAD_HEADER) {
			if (p == first) {
				__le64 v = cpu_to_le64(seq);

				memcpy(va, &v, min_t(size_t, n, 8));
			}
		} else {
			for (i = 0; i + 8 <= n; i += 8, word++) {
				__le64 v = cpu_to_le64(base + word * PATTERN_STEP);

				memcpy(va + i, &v, 8);
			}
			if (i < n) {   /* the frame's last partial word: low bytes first */
				__le64 v = cpu_to_le64(base + word * PATTERN_STEP);

				memcpy(va + i, &v, n - i);
			}
			crc = crc32_le(crc, va, n);
		}
		kunmap_local(va);
		remaining -= n;
		if (!(p & 63))
			cond_resched();
	}
	return ~crc;
}

/* ---- slot descriptors: the seqlock the readers check (docs/PROTOCOL.md §5) ---------- */

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

/* Fields, then generation even with release; then the ring head. */
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

static u32 frame_crc(struct capture_ring *r, u32 slot)
{
	unsigned long p = (r->slots_offset + (u64)slot * r->slot_stride) >> PAGE_SHIFT;
	u64 remaining = r->frame_bytes;
	u32 crc = ~0U;

	for (; remaining > 0; p++) {
		size_t n = min_t(u64, remaining, PAGE_SIZE);
		u8 *va = kmap_local_page(r->pages[p]);

		crc = crc32_le(crc, va, n);
		kunmap_local(va);
		remaining -= n;
	}
	return ~crc;
}

static int edu_dma(u64 src, u64 dst, u32 count, bool to_ram)
{
	int i;

	writeq(src, edu->mmio + EDU_DMA_SRC);
	writeq(dst, edu->mmio + EDU_DMA_DST);
	writeq(count, edu->mmio + EDU_DMA_CNT);
	writeq(EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0), edu->mmio + EDU_DMA_CMD);
	for (i = 0; i < 400; i++) {          /* edu completes a command 100 ms later */
		if (!(readq(edu->mmio + EDU_DMA_CMD) & EDU_DMA_RUN)) {
			edu->transfers++;
			return 0;
		}
		msleep(5);
	}
	return -ETIMEDOUT;
}

/* The frame arrives by real DMA: the pattern of each 2 KiB chunk is staged, copied into edu's
 * buffer, and written by edu to the slot's DMA address (the slot's sg table, mapped with
 * dma_map_sgtable; swiotlb bounces when the kernel asks for it). Returns the CRC of what landed. */
static int edu_fill(struct capture_ring *r, u32 slot, u64 seq, u32 *crc)
{
	struct sg_table *sgt = &r->sgts[slot];
	struct device *dev = &edu->pdev->dev;
	struct scatterlist *sg;
	u64 offset = 0, base = seq * PATTERN_BASE;
	int i, err;

	edu->frames++;
	err = dma_map_sgtable(dev, sgt, DMA_FROM_DEVICE, 0);
	if (err)
		return err;
	/* A bounced entry's DMA address is the swiotlb slot's, not the page's. */
	for_each_sgtable_dma_sg(sgt, sg, i) {
		if (sg_dma_address(sg) != sg_phys(sg)) {
			edu->bounced_frames++;
			break;
		}
	}
	for_each_sgtable_dma_sg(sgt, sg, i) {
		dma_addr_t addr = sg_dma_address(sg);
		u32 len = sg_dma_len(sg);

		while (len && !err) {
			u32 n = min_t(u32, len, EDU_CHUNK_BYTES), k;

			for (k = 0; k < n; k += 8) {   /* offset is a multiple of 8: slots are page-aligned */
				__le64 v = cpu_to_le64(base + ((offset + k) / 8) * PATTERN_STEP);

				memcpy(edu->staging + k, &v, min_t(u32, 8, n - k));
			}
			err = edu_dma(edu->staging_dma, EDU_BUFFER, n, false);
			if (!err)
				err = edu_dma(EDU_BUFFER, addr, n, true);
			addr += n;
			len -= n;
			offset += n;
		}
		if (err)
			break;
	}
	dma_unmap_sgtable(dev, sgt, DMA_FROM_DEVICE, 0);
	if (!err)
		*crc = frame_crc(r, slot);
	return err;
}

static bool pop_queued(struct capture_dev *cd, u32 *slot)
{
	struct capture_ring *r = cd->ring;
	bool ok = false;

	spin_lock(&cd->fifo_lock);
	if (r->q_count) {
		*slot = r->queue[r->q_head];
		r->q_head = (r->q_head + 1) % r->slot_count;
		r->q_count--;
		r->state[*slot] = SLOT_FILLING;
		/* Until now the slot's old frame was still readable; from here on it is not. */
		desc_begin_fill(r, *slot);
		ok = true;
	}
	spin_unlock(&cd->fifo_lock);
	return ok;
}

/* The descriptor and head are published: wake the clients that wait on the device itself
 * first, the daemon (readers) after. */
static void ring_doorbells(struct capture_dev *cd)
{
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&cd->bell_lock, flags);
	for (i = 0; i < cd->n_bells; i++)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
		eventfd_signal(cd->bells[i]);
#else
		eventfd_signal(cd->bells[i], 1);
#endif
	spin_unlock_irqrestore(&cd->bell_lock, flags);
}

static void doorbells_drop(struct capture_dev *cd)
{
	unsigned long flags;

	spin_lock_irqsave(&cd->bell_lock, flags);
	while (cd->n_bells)
		eventfd_ctx_put(cd->bells[--cd->n_bells]);
	spin_unlock_irqrestore(&cd->bell_lock, flags);
}

static long doorbell_ioctl(struct capture_dev *cd, void __user *uarg)
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
	if (req.op != CAPTURE_DOORBELL_ADD && req.op != CAPTURE_DOORBELL_REMOVE)
		return -EINVAL;
	ctx = eventfd_ctx_fdget(req.fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx); /* EBADF, or EINVAL for a descriptor that is not an eventfd */
	spin_lock_irqsave(&cd->bell_lock, flags);
	if (req.op == CAPTURE_DOORBELL_ADD) {
		if (cd->n_bells < CAPTURE_MAX_DOORBELLS)
			cd->bells[cd->n_bells++] = ctx; /* the table keeps fdget's reference */
		else
			ret = -ENOSPC;
	} else {
		ret = -ENOENT;
		for (i = 0; i < cd->n_bells; i++) {
			if (cd->bells[i] == ctx) {
				eventfd_ctx_put(cd->bells[i]);
				cd->bells[i] = cd->bells[--cd->n_bells];
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

static void push_completion(struct capture_dev *cd, const struct capture_completion *c)
{
	struct capture_ring *r = cd->ring;

	spin_lock(&cd->fifo_lock);
	/* At most slot_count slots are ever out, so the FIFO cannot overflow. */
	r->done[(r->d_head + r->d_count) % r->slot_count] = *c;
	r->d_count++;
	r->state[c->slot] = SLOT_DONE;
	atomic_inc(&cd->ready);
	spin_unlock(&cd->fifo_lock);
	ring_doorbells(cd);
	wake_up_interruptible(&cd->readers);
}

static int loopback_thread(void *data)
{
	struct capture_dev *cd = data;
	struct capture_ring *r = cd->ring;
	/* rate_mhz is frames per 1000 s, so the period is 10^12 ns / rate_mhz. */
	u64 period_ns = cd->rate_mhz ? div_u64(1000000000000ULL, cd->rate_mhz) : 0;
	ktime_t next = ktime_add_ns(ktime_get(), period_ns);

	while (!kthread_should_stop()) {
		struct capture_completion c = { 0 };
		u32 slot;

		if (period_ns) {
			ktime_t now = ktime_get();

			if (ktime_before(now, next)) {
				set_current_state(TASK_INTERRUPTIBLE);
				if (!kthread_should_stop())
					schedule_hrtimeout(&next, HRTIMER_MODE_ABS);
				__set_current_state(TASK_RUNNING);
				continue;
			}
			next = ktime_add_ns(next, period_ns);
			if (ktime_after(now, ktime_add_ns(next, NSEC_PER_SEC))) {
				/* Stalled for over a second: those frame times are overruns. */
				u64 missed = div64_u64(ktime_to_ns(ktime_sub(now, next)), period_ns);

				cd->sequence += missed;
				atomic64_add(missed, &cd->overruns);
				next = ktime_add_ns(next, missed * period_ns);
			}
			cd->sequence++;
			if (!pop_queued(cd, &slot)) {
				atomic64_inc(&cd->overruns);
				continue;
			}
		} else {
			wait_event_interruptible(cd->engine_wq, kthread_should_stop() || READ_ONCE(r->q_count));
			if (kthread_should_stop())
				break;
			if (!pop_queued(cd, &slot))
				continue;
			cd->sequence++;
		}
		c.slot = slot;
		c.bytes = r->frame_bytes;
		c.sequence = cd->sequence;
		if (edu_engine) {
			/* edu always writes the pattern: a header-only frame would not exercise DMA. */
			if (edu_fill(r, slot, cd->sequence, &c.checksum)) {
				atomic64_inc(&cd->errors);
				c.flags = CAPTURE_FRAME_DEVICE_ERROR;
			} else {
				c.flags = CAPTURE_FRAME_CHECKSUM;
			}
		} else {
			c.checksum = loopback_fill(cd, r, slot, cd->sequence);
			c.flags = cd->payload == CAPTURE_PAYLOAD_PATTERN ? CAPTURE_FRAME_CHECKSUM : 0;
		}
		c.timestamp_ns = ktime_get_ns();
		desc_publish(r, &c);
		push_completion(cd, &c);
		atomic64_inc(&cd->frames);
	}
	return 0;
}

/* ---- registration ----------------------------------------------------------------- */

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

static void ring_free(struct capture_dev *cd)
{
	struct capture_ring *r = cd->ring;
	u32 s;

	if (!r)
		return;
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
	kvfree(r->state);
	kvfree(r->queue);
	kvfree(r->done);
	if (r->memfd)
		fput(r->memfd);
	kfree(r);
	cd->ring = NULL;
	atomic_set(&cd->ready, 0);
	wake_up_interruptible(&cd->readers);
}

static void engine_stop(struct capture_dev *cd)
{
	if (cd->thread) {
		kthread_stop(cd->thread);
		cd->thread = NULL;
		if (edu_engine && edu)
			dev_info(&edu->pdev->dev, "edu: %llu DMA transfers, %llu frames, %llu of them through swiotlb bounce buffers\n",
				 edu->transfers, edu->frames, edu->bounced_frames);
	}
}

static int do_register(struct capture_dev *cd, struct capture_register __user *arg)
{
	struct capture_register req;
	struct capture_ring *r;
	struct vm_area_struct *vma;
	bool memfd_fs;
	unsigned int seals;
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
	cd->ring = r;
	r->slot_count = req.slot_count;
	r->ring_bytes = req.ring_bytes;
	r->slots_offset = req.slots_offset;
	r->slot_stride = req.slot_stride;
	r->frame_bytes = req.frame_bytes;
	r->descriptors_offset = req.descriptors_offset;

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
	r->sgts = kvcalloc(r->slot_count, sizeof(*r->sgts), GFP_KERNEL);
	if (!r->pages || !r->state || !r->queue || !r->done || !r->sgts) {
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
	}
	dev_info(cd->device, "ring registered: %u slots of %llu bytes, %lu pages pinned, %llu S/G entries\n",
		 r->slot_count, r->slot_stride, r->npages, r->sg_entries);
	return 0;

fail:
	ring_free(cd);
	return err;
}

static int do_queue(struct capture_dev *cd, struct capture_queue __user *arg)
{
	struct capture_queue req;
	struct capture_ring *r = cd->ring;
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
	spin_lock(&cd->fifo_lock);
	/* All or nothing: check every slot first. */
	for (i = 0; i < req.count; i++) {
		if (slots[i] >= r->slot_count) {
			err = -EINVAL;
			break;
		}
		if (r->state[slots[i]] != SLOT_OWNED) {
			err = -EBUSY;
			break;
		}
	}
	if (!err) {
		for (i = 0; i < req.count; i++) {
			r->queue[(r->q_head + r->q_count) % r->slot_count] = slots[i];
			r->q_count++;
			r->state[slots[i]] = SLOT_QUEUED;
		}
	}
	spin_unlock(&cd->fifo_lock);
	if (err == -EINVAL)
		dev_info_ratelimited(cd->device, "QUEUE: slot %u is not in the ring of %u\n", slots[i], r->slot_count);
	else if (err == -EBUSY)
		dev_info_ratelimited(cd->device, "QUEUE: slot %u is not free (queued or being filled)\n", slots[i]);
	kvfree(slots);
	if (!err)
		wake_up_interruptible(&cd->engine_wq);
	return err;
}

static int do_start(struct capture_dev *cd, struct capture_start __user *arg)
{
	struct capture_start req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (!cd->ring)
		return -ENXIO;
	if (cd->thread)
		return -EBUSY;
	if (req.payload != CAPTURE_PAYLOAD_PATTERN && req.payload != CAPTURE_PAYLOAD_HEADER)
		return -EINVAL;
	if (!loopback_engine && !edu_engine)
		return 0;   /* nothing to run: real hardware would start here */
	cd->rate_mhz = req.frame_rate_mhz;
	cd->payload = req.payload;
	cd->thread = kthread_run(loopback_thread, cd, "capture%d-loopback", cd->index);
	if (IS_ERR(cd->thread)) {
		int err = PTR_ERR(cd->thread);

		cd->thread = NULL;
		return err;
	}
	return 0;
}

static long capture_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct capture_dev *cd = file->private_data;
	void __user *uarg = (void __user *)arg;
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
			.engine = edu_engine ? CAPTURE_ENGINE_EDU : loopback_engine ? CAPTURE_ENGINE_LOOPBACK : CAPTURE_ENGINE_NONE,
			.max_ring_bytes = 1ULL << 40,
		};
		strscpy(info.engine_name, engine, sizeof(info.engine_name));
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
			.queued = cd->ring ? READ_ONCE(cd->ring->q_count) : 0,
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
		spin_lock(&cd->fifo_lock);
		memcpy(states, cd->ring->state, n);
		spin_unlock(&cd->fifo_lock);
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
	struct capture_dev *cd = file->private_data;
	size_t want = len / sizeof(struct capture_completion), got = 0;
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

			spin_lock(&cd->fifo_lock);
			if (!r->d_count) {
				spin_unlock(&cd->fifo_lock);
				break;
			}
			c = r->done[r->d_head];
			r->d_head = (r->d_head + 1) % r->slot_count;
			r->d_count--;
			r->state[c.slot] = SLOT_OWNED;
			atomic_dec(&cd->ready);
			spin_unlock(&cd->fifo_lock);
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
	struct capture_dev *cd = file->private_data;

	poll_wait(file, &cd->readers, wait);
	if (READ_ONCE(cd->dead))
		return EPOLLHUP | EPOLLERR;
	return atomic_read(&cd->ready) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int capture_open(struct inode *inode, struct file *file)
{
	struct capture_dev *cd;
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
	struct capture_dev *cd = file->private_data;

	mutex_lock(&cd->lock);
	engine_stop(cd);
	if (cd->ring)
		pr_info(DRV ": capture%d closed: unpinning %lu pages\n", cd->index, cd->ring->npages);
	ring_free(cd);
	doorbells_drop(cd);
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
	.llseek = no_llseek,
};

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *capture_devnode(const struct device *dev, umode_t *mode)
#else
static char *capture_devnode(struct device *dev, umode_t *mode)
#endif
{
	if (mode)
		*mode = 0660;
	return NULL;
}

/* A device arrives: /dev/captureN appears (udev "add"). */
static int capture_probe(struct platform_device *pdev)
{
	struct capture_dev *cd;
	int i = pdev->id, err;

	if (i < 0 || i >= ARRAY_SIZE(capture_table))
		return -EINVAL;
	cd = kzalloc(sizeof(*cd), GFP_KERNEL);
	if (!cd)
		return -ENOMEM;
	kref_init(&cd->ref);
	cd->index = i;
	mutex_init(&cd->lock);
	spin_lock_init(&cd->fifo_lock);
	spin_lock_init(&cd->bell_lock);
	init_waitqueue_head(&cd->readers);
	init_waitqueue_head(&cd->engine_wq);
	cd->cdev = cdev_alloc();
	if (!cd->cdev) {
		err = -ENOMEM;
		goto free;
	}
	cd->cdev->ops = &capture_fops;
	cd->cdev->owner = THIS_MODULE;
	err = cdev_add(cd->cdev, MKDEV(MAJOR(capture_devt), i), 1);
	if (err)
		goto put_cdev;
	mutex_lock(&capture_table_lock);
	capture_table[i] = cd;
	mutex_unlock(&capture_table_lock);
	cd->device = device_create(capture_class, &pdev->dev, MKDEV(MAJOR(capture_devt), i), cd, "capture%d", i);
	if (IS_ERR(cd->device)) {
		err = PTR_ERR(cd->device);
		goto untable;
	}
	platform_set_drvdata(pdev, cd);
	return 0;

untable:
	mutex_lock(&capture_table_lock);
	capture_table[i] = NULL;
	mutex_unlock(&capture_table_lock);
	cdev_del(cd->cdev);
	goto free;
put_cdev:
	kobject_put(&cd->cdev->kobj);
free:
	kfree(cd);
	return err;
}

/* The device goes away, possibly under an open file (unbind, module unload). */
static int capture_remove(struct platform_device *pdev)
{
	struct capture_dev *cd = platform_get_drvdata(pdev);

	mutex_lock(&capture_table_lock);
	capture_table[cd->index] = NULL;
	mutex_unlock(&capture_table_lock);
	mutex_lock(&cd->lock);
	cd->dead = true;
	engine_stop(cd);
	mutex_unlock(&cd->lock);
	wake_up_interruptible(&cd->readers);
	device_destroy(capture_class, MKDEV(MAJOR(capture_devt), cd->index));
	cdev_del(cd->cdev);
	dev_info(&pdev->dev, "capture%d removed%s\n", cd->index, cd->open ? " while open: the owner gets ENODEV" : "");
	kref_put(&cd->ref, capture_dev_free);
	return 0;
}

static int capture_edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct capture_edu *e;
	int err;

	if (edu)
		return -EBUSY;
	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), DRV);
	if (err)
		return err;
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (err)
		return err;
	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	e->mmio = pcim_iomap_table(pdev)[0];
	e->staging = dmam_alloc_coherent(&pdev->dev, EDU_BUFFER_BYTES, &e->staging_dma, GFP_KERNEL);
	if (!e->staging)
		return -ENOMEM;
	edu = e;
	dev_info(&pdev->dev, "edu DMA engine: 32-bit DMA mask, staging at %pad\n", &e->staging_dma);
	return 0;
}

static void capture_edu_remove(struct pci_dev *pdev)
{
	if (edu && edu->pdev == pdev)
		edu = NULL;
}

static const struct pci_device_id capture_edu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};

static struct pci_driver capture_edu_driver = {
	.name = DRV "_edu",
	.id_table = capture_edu_ids,
	.probe = capture_edu_probe,
	.remove = capture_edu_remove,
};

static struct platform_driver capture_platform_driver = {
	.probe = capture_probe,
	.remove = capture_remove,
	.driver = { .name = DRV },
};

static void capture_unregister_devices(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(capture_pdevs); i++) {
		if (capture_pdevs[i])
			platform_device_unregister(capture_pdevs[i]);
		capture_pdevs[i] = NULL;
	}
}

static int __init capture_init(void)
{
	int err, i;

	if (!devices || devices > ARRAY_SIZE(capture_pdevs))
		return -EINVAL;
	if (!strcmp(engine, "loopback"))
		loopback_engine = true;
	else if (!strcmp(engine, "edu"))
		edu_engine = true;
	else if (strcmp(engine, "none"))
		return -EINVAL;
	if (edu_engine) {
		err = pci_register_driver(&capture_edu_driver);
		if (err)
			return err;
		if (!edu) {
			pr_err(DRV ": engine=edu but no QEMU edu device (1234:11e8) was found\n");
			pci_unregister_driver(&capture_edu_driver);
			return -ENODEV;
		}
	}
	err = alloc_chrdev_region(&capture_devt, 0, ARRAY_SIZE(capture_table), "capture");
	if (err)
		goto unedu;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	capture_class = class_create("capture");
#else
	capture_class = class_create(THIS_MODULE, "capture");
#endif
	if (IS_ERR(capture_class)) {
		err = PTR_ERR(capture_class);
		goto unregion;
	}
	capture_class->devnode = capture_devnode;
	err = platform_driver_register(&capture_platform_driver);
	if (err)
		goto unclass;
	for (i = 0; i < devices; i++) {
		capture_pdevs[i] = platform_device_register_simple(DRV, i, NULL, 0);
		if (IS_ERR(capture_pdevs[i])) {
			err = PTR_ERR(capture_pdevs[i]);
			capture_pdevs[i] = NULL;
			goto undevices;
		}
	}
	pr_info(DRV ": %u device(s), engine %s, ABI %d\n", devices, engine, CAPTURE_DMA_ABI_VERSION);
	return 0;

undevices:
	capture_unregister_devices();
	platform_driver_unregister(&capture_platform_driver);
unclass:
	class_destroy(capture_class);
unregion:
	unregister_chrdev_region(capture_devt, ARRAY_SIZE(capture_table));
unedu:
	if (edu_engine)
		pci_unregister_driver(&capture_edu_driver);
	return err;
}

static void __exit capture_exit(void)
{
	capture_unregister_devices();
	platform_driver_unregister(&capture_platform_driver);
	class_destroy(capture_class);
	unregister_chrdev_region(capture_devt, ARRAY_SIZE(capture_table));
	if (edu_engine)
		pci_unregister_driver(&capture_edu_driver);
}

module_init(capture_init);
module_exit(capture_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("capture: pins a daemon-owned memfd ring once and fills it for captured");
