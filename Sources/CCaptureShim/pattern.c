#include "capture_pattern.h"

#include <string.h>
#include <zlib.h>

#include "capture_ring.h"

#define PATTERN_BASE CAPTURE_PATTERN_BASE
#define PATTERN_STEP CAPTURE_PATTERN_STEP

uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence) {
    uint8_t *p = dst;
    uint64_t w = sequence * PATTERN_BASE;
    size_t words = len / 8, i;
    /* Fill in chunks that stay in L1/L2 so the CRC pass reads warm cache lines. */
    uLong crc = crc32(0L, Z_NULL, 0);
    const size_t chunk = 16384;
    for (size_t start = 0; start < words; start += chunk / 8) {
        size_t end = start + chunk / 8 < words ? start + chunk / 8 : words;
        for (i = start; i < end; i++) {
            uint64_t v = w + (uint64_t)i * PATTERN_STEP;
            memcpy(p + i * 8, &v, 8);
        }
        crc = crc32(crc, p + start * 8, (uInt)((end - start) * 8));
    }
    size_t tail = len - words * 8;
    if (tail) {
        uint64_t v = w + (uint64_t)words * PATTERN_STEP;
        memcpy(p + words * 8, &v, tail);   /* little-endian: the low bytes first */
        crc = crc32(crc, p + words * 8, (uInt)tail);
    }
    return (uint32_t)crc;
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

uint32_t capture_crc32(const void *src, size_t len) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const uint8_t *p = src;
    while (len > 0) {   /* zlib takes uInt lengths */
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        crc = crc32(crc, p, n);
        p += n; len -= n;
    }
    return (uint32_t)crc;
}
