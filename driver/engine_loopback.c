// SPDX-License-Identifier: GPL-2.0
/*
 * capture_loopback: a capture engine with no hardware. Each device is a platform device
 * (capture_loopback.N) whose kernel thread writes frames through the pinned pages with the
 * CPU, at the rate START asks for, with the same deterministic pattern and CRC-32 as
 * captured's synthetic device. It uses nothing of the core but capture_core.h, like any
 * engine for real hardware would (docs/DRIVER.md).
 *
 *   insmod capture_dma.ko && insmod capture_loopback.ko devices=1   ->  /dev/capture0
 *   echo capture_loopback.0 > /sys/bus/platform/drivers/capture_loopback/unbind   (unplug)
 */
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "capture_compat.h"
#include "capture_core.h"
#include "capture_test_pattern.h"

#define DRV "capture_loopback"
#define LOOPBACK_MAX_DEVICES 8
/* Slots taken from the core at once: one being filled and the next. */
#define LOOPBACK_QUEUE 2

static unsigned int devices = 1;
module_param(devices, uint, 0444);
MODULE_PARM_DESC(devices, "number of loopback devices, /dev/captureN each (1-8)");

struct loopback {
	struct capture_device *dev;
	spinlock_t lock;                       /* protects queue */
	const struct capture_slot *queue[LOOPBACK_QUEUE];
	u32 head, count;
	wait_queue_head_t wq;                  /* a slot arrived, or stop */
	struct task_struct *thread;
	struct capture_stream_params params;
};

static struct platform_device *loopback_pdevs[LOOPBACK_MAX_DEVICES];

/* Atomic context (the core's lock is held): record the slot, wake the thread. */
static void loopback_queue_slot(void *priv, const struct capture_slot *slot)
{
	struct loopback *lb = priv;
	unsigned long flags;

	spin_lock_irqsave(&lb->lock, flags);
	if (!WARN_ON_ONCE(lb->count == LOOPBACK_QUEUE))
		lb->queue[(lb->head + lb->count++) % LOOPBACK_QUEUE] = slot;
	spin_unlock_irqrestore(&lb->lock, flags);
	wake_up(&lb->wq);
}

static const struct capture_slot *loopback_take(struct loopback *lb)
{
	const struct capture_slot *slot = NULL;
	unsigned long flags;

	spin_lock_irqsave(&lb->lock, flags);
	if (lb->count) {
		slot = lb->queue[lb->head];
		lb->head = (lb->head + 1) % LOOPBACK_QUEUE;
		lb->count--;
	}
	spin_unlock_irqrestore(&lb->lock, flags);
	return slot;
}

static int loopback_thread(void *data)
{
	struct loopback *lb = data;
	/* frame_rate_mhz is frames per 1000 s, so the period is 10^12 ns / rate. */
	u64 period_ns = lb->params.frame_rate_mhz ? div_u64(1000000000000ULL, lb->params.frame_rate_mhz) : 0;
	ktime_t next = ktime_add_ns(ktime_get(), period_ns);

	while (!kthread_should_stop()) {
		const struct capture_slot *slot;
		u32 crc;

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

				capture_frames_lost(lb->dev, missed);
				next = ktime_add_ns(next, missed * period_ns);
			}
			slot = loopback_take(lb);
			if (!slot) {
				capture_frames_lost(lb->dev, 1); /* a frame time with no slot: an overrun */
				continue;
			}
		} else {
			wait_event_interruptible(lb->wq, kthread_should_stop() || READ_ONCE(lb->count));
			slot = loopback_take(lb);
			if (!slot)
				continue;
		}
		/* The pattern is made from the frame's number, which the core gives at completion;
		 * this thread is the only one completing frames or reporting lost ones. */
		crc = capture_pattern_write(slot, lb->params.payload, capture_next_sequence(lb->dev));
		capture_slot_done(lb->dev, slot->index, slot->frame_bytes,
				  lb->params.payload == CAPTURE_PAYLOAD_PATTERN ? CAPTURE_FRAME_CHECKSUM : 0, crc, 0);
	}
	return 0;
}

static int loopback_start(void *priv, const struct capture_stream_params *params)
{
	struct loopback *lb = priv;

	lb->params = *params;
	lb->thread = kthread_run(loopback_thread, lb, "capture-loopback");
	if (IS_ERR(lb->thread)) {
		int err = PTR_ERR(lb->thread);

		lb->thread = NULL;
		return err;
	}
	return 0;
}

static void loopback_stop(void *priv)
{
	struct loopback *lb = priv;
	unsigned long flags;

	if (lb->thread) {
		kthread_stop(lb->thread);
		lb->thread = NULL;
	}
	spin_lock_irqsave(&lb->lock, flags);
	lb->count = 0; /* the core takes the slots back */
	spin_unlock_irqrestore(&lb->lock, flags);
}

static const struct capture_engine_ops loopback_ops = {
	.owner = THIS_MODULE,
	.start = loopback_start,
	.stop = loopback_stop,
	.queue_slot = loopback_queue_slot,
	.max_queued = LOOPBACK_QUEUE,
	.engine_id = CAPTURE_ENGINE_LOOPBACK,
	.name = "loopback",
};

static int loopback_probe(struct platform_device *pdev)
{
	struct loopback *lb = devm_kzalloc(&pdev->dev, sizeof(*lb), GFP_KERNEL);

	if (!lb)
		return -ENOMEM;
	spin_lock_init(&lb->lock);
	init_waitqueue_head(&lb->wq);
	lb->dev = capture_device_register(&loopback_ops, &pdev->dev, NULL, lb);
	if (IS_ERR(lb->dev))
		return PTR_ERR(lb->dev);
	platform_set_drvdata(pdev, lb);
	return 0;
}

static void loopback_remove(struct platform_device *pdev)
{
	struct loopback *lb = platform_get_drvdata(pdev);

	capture_device_unregister(lb->dev); /* stops the thread through loopback_stop */
}
CAPTURE_PLATFORM_REMOVE_WRAPPER(loopback_remove)

static struct platform_driver loopback_driver = {
	.probe = loopback_probe,
	CAPTURE_PLATFORM_REMOVE(loopback_remove),
	.driver = { .name = DRV },
};

static void loopback_unregister_devices(void)
{
	int i;

	for (i = 0; i < LOOPBACK_MAX_DEVICES; i++) {
		if (loopback_pdevs[i])
			platform_device_unregister(loopback_pdevs[i]);
		loopback_pdevs[i] = NULL;
	}
}

static int __init loopback_init(void)
{
	int err, i;

	if (!devices || devices > LOOPBACK_MAX_DEVICES)
		return -EINVAL;
	err = platform_driver_register(&loopback_driver);
	if (err)
		return err;
	for (i = 0; i < devices; i++) {
		loopback_pdevs[i] = platform_device_register_simple(DRV, i, NULL, 0);
		if (IS_ERR(loopback_pdevs[i])) {
			err = PTR_ERR(loopback_pdevs[i]);
			loopback_pdevs[i] = NULL;
			loopback_unregister_devices();
			platform_driver_unregister(&loopback_driver);
			return err;
		}
	}
	return 0;
}

static void __exit loopback_exit(void)
{
	loopback_unregister_devices();
	platform_driver_unregister(&loopback_driver);
}

module_init(loopback_init);
module_exit(loopback_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("capture loopback engine: frames written by a kernel thread, for tests without hardware");
