/* The pattern and header payloads (PROTOCOL.md §6). */
#include "capture_payload.h"

#include <string.h>

#define PATTERN_BASE 0x9E3779B97F4A7C15ULL   /* CAPTURE_PATTERN_BASE, driver/uapi/capture_ring.h */
#define PATTERN_STEP 0xD1B54A32D192ED03ULL   /* CAPTURE_PATTERN_STEP */

uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence) {
    uint8_t *p = dst;
    uint64_t w = sequence * PATTERN_BASE;
    size_t words = len / 8, i;
    uint32_t crc = 0;
    /* Fill in chunks that stay in L1/L2 so the CRC pass reads warm cache lines. */
    const size_t chunk = 16384;
    for (size_t start = 0; start < words; start += chunk / 8) {
        size_t end = start + chunk / 8 < words ? start + chunk / 8 : words;
        for (i = start; i < end; i++) {
            uint64_t v = w + (uint64_t)i * PATTERN_STEP;
            memcpy(p + i * 8, &v, 8);
        }
        crc = capture_crc32_update(crc, p + start * 8, (end - start) * 8);
    }
    size_t tail = len - words * 8;
    if (tail) {
        uint64_t v = w + (uint64_t)words * PATTERN_STEP;
        memcpy(p + words * 8, &v, tail);   /* little-endian: the low bytes first */
        crc = capture_crc32_update(crc, p + words * 8, tail);
    }
    return crc;
}

int64_t capture_pattern_check(const void *src, size_t len, uint64_t sequence) {
    const uint8_t *p = src;
    uint64_t w = sequence * PATTERN_BASE;
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t v = w + (uint64_t)i * PATTERN_STEP, got;
        memcpy(&got, p + i * 8, 8);
        if (got != v) {
            for (size_t b = 0; b < 8; b++)
                if (((got >> (8 * b)) & 0xff) != ((v >> (8 * b)) & 0xff)) return (int64_t)(i * 8 + b);
        }
    }
    size_t tail = len - words * 8;
    if (tail) {
        uint64_t v = w + (uint64_t)words * PATTERN_STEP;
        for (size_t b = 0; b < tail; b++)
            if (p[words * 8 + b] != ((v >> (8 * b)) & 0xff)) return (int64_t)(words * 8 + b);
    }
    return -1;
}

void capture_header_stamp(void *dst, size_t len, uint64_t sequence) {
    memcpy(dst, &sequence, len < 8 ? len : 8);
}
