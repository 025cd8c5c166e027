/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture_compat.h: every difference between the kernels capture builds against (Debian 12's
 * 6.1 and 6.12, generic and PREEMPT_RT), in one place, keyed on LINUX_VERSION_CODE. The rest
 * of driver/ is written against the newest API and uses only these names where they differ.
 *
 * Checked and unchanged across 6.1 ... 6.12 (so not here): pin_user_pages_fast with
 * FOLL_WRITE | FOLL_LONGTERM, unpin_user_pages_dirty_lock, vma_lookup and vm_flags (read
 * only), page_folio, kmap_local_page, sg_alloc_table_from_pages, dma_map_sgtable and the
 * dma_sync_sgtable_* calls, eventfd_ctx_fdget/eventfd_ctx_put, kthread_run, nonseekable_open.
 */
#ifndef CAPTURE_COMPAT_H
#define CAPTURE_COMPAT_H

#include <linux/device.h>
#include <linux/eventfd.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/version.h>

/* 6.4 dropped class_create()'s owner argument. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define capture_class_create(name) class_create(name)
#else
#define capture_class_create(name) class_create(THIS_MODULE, name)
#endif

/* 6.2 made struct class's devnode() take a const struct device. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define CAPTURE_DEVNODE_DEVICE const struct device
#else
#define CAPTURE_DEVNODE_DEVICE struct device
#endif

/* 6.8 dropped eventfd_signal()'s count argument (it always adds 1 now). */
static inline void capture_eventfd_signal(struct eventfd_ctx *ctx)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * 6.11 made platform_driver.remove return void. Before, .remove returned an int that the
 * driver core ignored (.remove_new, the void transition, came in 6.3 and only in some 6.1.y
 * stable releases, so it is not relied on). Write the remove function as void, and use
 * CAPTURE_PLATFORM_REMOVE_WRAPPER(fn) before the driver struct and CAPTURE_PLATFORM_REMOVE(fn)
 * in it.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define CAPTURE_PLATFORM_REMOVE(fn) .remove = fn
#else
#define CAPTURE_PLATFORM_REMOVE(fn) .remove = fn##_int
#define CAPTURE_PLATFORM_REMOVE_WRAPPER(fn)                                     \
	static int fn##_int(struct platform_device *pdev) { fn(pdev); return 0; }
#endif
#ifndef CAPTURE_PLATFORM_REMOVE_WRAPPER
#define CAPTURE_PLATFORM_REMOVE_WRAPPER(fn)
#endif

/*
 * 6.12 removed no_llseek: a file opened with nonseekable_open() and no .llseek already
 * answers ESPIPE. Older kernels spell it no_llseek.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define CAPTURE_NO_LLSEEK NULL
#else
#define CAPTURE_NO_LLSEEK no_llseek
#endif

/* 6.11 added pcim_iomap_region(); pcim_iomap_regions() and pcim_iomap_table() are deprecated
 * after it. Maps one BAR, managed; returns the mapping or an ERR_PTR. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
#define capture_pcim_iomap_bar(pdev, bar, name) pcim_iomap_region(pdev, bar, name)
#else
static inline void __iomem *capture_pcim_iomap_bar(struct pci_dev *pdev, int bar, const char *name)
{
	int err = pcim_iomap_regions(pdev, BIT(bar), name);

	return err ? IOMEM_ERR_PTR(err) : pcim_iomap_table(pdev)[bar];
}
#endif

#endif
