/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The deterministic test payloads (PROTOCOL.md §6) for engines without a camera: the same
 * bytes and CRC-32 as captured's synthetic device, so `capturectl tail --verify` checks them.
 */
#ifndef CAPTURE_TEST_PATTERN_H
#define CAPTURE_TEST_PATTERN_H

#include <linux/crc32.h>
#include <linux/highmem.h>
#include <linux/kernel.h>
#include <linux/sched.h>

#include "capture_core.h"

/* Word `i` of frame `seq`'s pattern, little-endian. */
static inline __le64 capture_pattern_word(u64 seq, u64 i)
{
	return cpu_to_le64(seq * CAPTURE_PATTERN_BASE + i * CAPTURE_PATTERN_STEP);
}

/* Fills `len` bytes at `dst`, which start at byte `offset` (a multiple of 8) of the frame. */
static inline void capture_pattern_fill(u8 *dst, size_t len, u64 seq, u64 offset)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		__le64 v = capture_pattern_word(seq, (offset + i) / 8);

		memcpy(dst + i, &v, 8);
	}
	if (i < len) {   /* the frame's last partial word: low bytes first */
		__le64 v = capture_pattern_word(seq, (offset + i) / 8);

		memcpy(dst + i, &v, len - i);
	}
}

/*
 * Writes frame `seq` into `slot` through its pinned pages with the CPU (slots are
 * page-aligned, so no word crosses a page). Returns the CRC-32 for the pattern payload, 0 for
 * the header payload (only the first 8 bytes: the sequence).
 */
static inline u32 capture_pattern_write(const struct capture_slot *slot, u32 payload, u64 seq)
{
	u64 remaining = slot->frame_bytes, offset = 0;
	u32 crc = ~0U;
	unsigned int p;

	for (p = 0; remaining > 0; p++) {
		size_t n = min_t(u64, remaining, PAGE_SIZE);
		u8 *va = kmap_local_page(slot->pages[p]);

		if (payload == CAPTURE_PAYLOAD_HEADER) {
			if (p == 0) {
				__le64 v = cpu_to_le64(seq);

				memcpy(va, &v, min_t(size_t, n, 8));
			}
		} else {
			capture_pattern_fill(va, n, seq, offset);
			crc = crc32_le(crc, va, n);
		}
		kunmap_local(va);
		remaining -= n;
		offset += n;
		if (!(p & 63))
			cond_resched();
	}
	return payload == CAPTURE_PAYLOAD_HEADER ? 0 : ~crc;
}

/* CRC-32 of what the slot holds, as the CPU sees it (after capture_slot_sync_for_cpu). */
static inline u32 capture_slot_crc32(const struct capture_slot *slot)
{
	u64 remaining = slot->frame_bytes;
	u32 crc = ~0U;
	unsigned int p;

	for (p = 0; remaining > 0; p++) {
		size_t n = min_t(u64, remaining, PAGE_SIZE);
		u8 *va = kmap_local_page(slot->pages[p]);

		crc = crc32_le(crc, va, n);
		kunmap_local(va);
		remaining -= n;
	}
	return ~crc;
}

#endif
