// SPDX-License-Identifier: GPL-2.0
/*
 * capture_edu: a capture engine for QEMU's "edu" PCI device (1234:11e8), the worked example
 * of an engine for hardware that does real DMA (docs/DRIVER.md walks through it). edu copies
 * at most 4 KiB per command between its own buffer and a DMA address; this engine stages each
 * 2 KiB chunk of the test pattern, has edu copy it into its buffer, then has edu write it to
 * the slot's DMA addresses — the slot's scatter-gather table, which the core mapped against
 * this PCI device, so edu's DMA mask and any IOMMU or swiotlb apply — and completes the slot
 * with the CRC-32 of what landed, as the CPU sees it.
 *
 *   insmod capture_dma.ko && insmod capture_edu.ko   ->  /dev/captureN for the edu device
 *
 * QEMU 7.2's edu aborts the whole VM on a transfer that ends exactly at its buffer's end (an
 * off-by-one in its range check), so transfers are 2 KiB. edu's default DMA mask is 28 bits,
 * below where swiotlb places its pool in a guest; give it 32 (-device edu,dma_mask=0xffffffff).
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "capture_compat.h"
#include "capture_core.h"
#include "capture_test_pattern.h"

#define DRV "capture_edu"
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_RUN 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUFFER 0x40000
#define EDU_STAGING_BYTES 4096
#define EDU_CHUNK_BYTES 2048
#define EDU_QUEUE 2

struct edu {
	struct pci_dev *pdev;
	struct capture_device *dev;
	void __iomem *mmio;
	u8 *staging;                   /* coherent: what edu copies into its buffer */
	dma_addr_t staging_dma;
	spinlock_t lock;               /* protects queue */
	const struct capture_slot *queue[EDU_QUEUE];
	u32 head, count;
	wait_queue_head_t wq;
	struct task_struct *thread;
	struct capture_stream_params params;
	u64 transfers, frames, bounced_frames;
};

/* One edu DMA command; edu completes it about 100 ms later. Sleeps. */
static int edu_dma(struct edu *e, u64 src, u64 dst, u32 count, bool to_ram)
{
	int i;

	writeq(src, e->mmio + EDU_DMA_SRC);
	writeq(dst, e->mmio + EDU_DMA_DST);
	writeq(count, e->mmio + EDU_DMA_CNT);
	writeq(EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0), e->mmio + EDU_DMA_CMD);
	for (i = 0; i < 400; i++) {
		if (!(readq(e->mmio + EDU_DMA_CMD) & EDU_DMA_RUN)) {
			e->transfers++;
			return 0;
		}
		msleep(5);
	}
	return -ETIMEDOUT;
}

/* Frame `seq` into `slot` by DMA, chunk by chunk, at the slot's DMA addresses. */
static int edu_fill(struct edu *e, const struct capture_slot *slot, u64 seq)
{
	struct scatterlist *sg;
	u64 offset = 0;
	int i, err = 0;

	e->frames++;
	/* A bounced entry's DMA address is the swiotlb slot's, not the page's. */
	for_each_sgtable_dma_sg(slot->sgt, sg, i) {
		if (sg_dma_address(sg) != sg_phys(sg)) {
			e->bounced_frames++;
			break;
		}
	}
	for_each_sgtable_dma_sg(slot->sgt, sg, i) {
		dma_addr_t addr = sg_dma_address(sg);
		u32 len = sg_dma_len(sg);

		while (len && !err) {
			u32 n = min_t(u32, len, EDU_CHUNK_BYTES);

			capture_pattern_fill(e->staging, n, seq, offset); /* offset: a multiple of 8 */
			err = edu_dma(e, e->staging_dma, EDU_BUFFER, n, false);
			if (!err)
				err = edu_dma(e, EDU_BUFFER, addr, n, true);
			addr += n;
			len -= n;
			offset += n;
		}
		if (err)
			break;
	}
	return err;
}

static void edu_queue_slot(void *priv, const struct capture_slot *slot)
{
	struct edu *e = priv;
	unsigned long flags;

	spin_lock_irqsave(&e->lock, flags);
	if (!WARN_ON_ONCE(e->count == EDU_QUEUE))
		e->queue[(e->head + e->count++) % EDU_QUEUE] = slot;
	spin_unlock_irqrestore(&e->lock, flags);
	wake_up(&e->wq);
}

static const struct capture_slot *edu_take(struct edu *e)
{
	const struct capture_slot *slot = NULL;
	unsigned long flags;

	spin_lock_irqsave(&e->lock, flags);
	if (e->count) {
		slot = e->queue[e->head];
		e->head = (e->head + 1) % EDU_QUEUE;
		e->count--;
	}
	spin_unlock_irqrestore(&e->lock, flags);
	return slot;
}

/* As many frames as edu can move, one slot at a time (edu is far slower than any frame rate). */
static int edu_thread(void *data)
{
	struct edu *e = data;

	while (!kthread_should_stop()) {
		const struct capture_slot *slot;
		u32 crc = 0, flags;

		wait_event_interruptible(e->wq, kthread_should_stop() || READ_ONCE(e->count));
		slot = edu_take(e);
		if (!slot)
			continue;
		/* edu always writes the pattern: a header-only frame would not exercise DMA. */
		if (edu_fill(e, slot, capture_next_sequence(e->dev))) {
			flags = CAPTURE_FRAME_DEVICE_ERROR;
		} else {
			capture_slot_sync_for_cpu(e->dev, slot);
			crc = capture_slot_crc32(slot);
			flags = CAPTURE_FRAME_CHECKSUM;
		}
		capture_slot_done(e->dev, slot->index, slot->frame_bytes, flags, crc, 0);
	}
	return 0;
}

static int edu_start(void *priv, const struct capture_stream_params *params)
{
	struct edu *e = priv;

	e->params = *params;
	e->thread = kthread_run(edu_thread, e, "capture-edu");
	if (IS_ERR(e->thread)) {
		int err = PTR_ERR(e->thread);

		e->thread = NULL;
		return err;
	}
	return 0;
}

static void edu_stop(void *priv)
{
	struct edu *e = priv;
	unsigned long flags;

	if (e->thread) {
		kthread_stop(e->thread);
		e->thread = NULL;
		dev_info(&e->pdev->dev, "edu: %llu DMA transfers, %llu frames, %llu of them through swiotlb bounce buffers\n",
			 e->transfers, e->frames, e->bounced_frames);
	}
	spin_lock_irqsave(&e->lock, flags);
	e->count = 0;
	spin_unlock_irqrestore(&e->lock, flags);
}

static const struct capture_engine_ops edu_ops = {
	.owner = THIS_MODULE,
	.start = edu_start,
	.stop = edu_stop,
	.queue_slot = edu_queue_slot,
	.max_queued = EDU_QUEUE,
	.engine_id = CAPTURE_ENGINE_EDU,
	.name = "edu",
};

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu *e;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	e->mmio = capture_pcim_iomap_bar(pdev, 0, DRV);
	if (IS_ERR(e->mmio))
		return PTR_ERR(e->mmio);
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (err)
		return err;
	e->staging = dmam_alloc_coherent(&pdev->dev, EDU_STAGING_BYTES, &e->staging_dma, GFP_KERNEL);
	if (!e->staging)
		return -ENOMEM;
	spin_lock_init(&e->lock);
	init_waitqueue_head(&e->wq);
	/* The PCI device does the DMA: the core maps every slot against it. */
	e->dev = capture_device_register(&edu_ops, &pdev->dev, &pdev->dev, e);
	if (IS_ERR(e->dev))
		return PTR_ERR(e->dev);
	pci_set_drvdata(pdev, e);
	dev_info(&pdev->dev, "edu DMA engine: 32-bit DMA mask, staging at %pad\n", &e->staging_dma);
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct edu *e = pci_get_drvdata(pdev);

	capture_device_unregister(e->dev);
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = DRV,
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
};

module_pci_driver(edu_driver);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("capture edu engine: frames by real DMA from QEMU's edu PCI device, the worked example");
