/* The frame pattern and checksum (docs/PROTOCOL.md §6): hot loops, always optimised. */
#ifndef CAPTURE_PATTERN_H
#define CAPTURE_PATTERN_H
#include <stddef.h>
#include <stdint.h>

/** Writes the `pattern` payload of frame `sequence`: little-endian 64-bit words
 *  w[i] = (sequence * 0x9E3779B97F4A7C15) + i * 0xD1B54A32D192ED03 (mod 2^64); a trailing
 *  partial word takes the low bytes of the next w[i]. Returns the CRC-32 of the bytes. */
uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence);
/** Index of the first byte that differs from the pattern of `sequence`, or -1 when all match. */
int64_t capture_pattern_check(const void *src, size_t len, uint64_t sequence);
/** The `header` payload: only the first 8 bytes, the little-endian sequence. */
void capture_header_stamp(void *dst, size_t len, uint64_t sequence);
/** CRC-32 (ISO-HDLC: the one of zlib, Python's zlib.crc32 and Ethernet). */
uint32_t capture_crc32(const void *src, size_t len);
#endif
