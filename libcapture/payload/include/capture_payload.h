/*
 * capture_payload: what a frame holds and how to make and check the test payloads
 * (docs/PROTOCOL.md §6), in plain C11 with nothing beyond libc. One implementation, compiled
 * into libcapture and, through the CCapturePayload target, into captured and the Swift client.
 */
#ifndef CAPTURE_PAYLOAD_H
#define CAPTURE_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CRC-32/ISO-HDLC (zlib's crc32, Python's zlib.crc32) ------------------------------ */

/** Continues `crc` (0 to start) over `len` bytes, as zlib's crc32(crc, buf, len). */
uint32_t capture_crc32_update(uint32_t crc, const void *buf, size_t len);
/** The CRC-32 of `len` bytes. */
uint32_t capture_crc32(const void *buf, size_t len);

/* ---- the pattern and header payloads ------------------------------------------------- */

/** Writes the pattern of frame `sequence` (little-endian words w[i] = sequence *
 *  0x9E3779B97F4A7C15 + i * 0xD1B54A32D192ED03); returns its CRC-32. */
uint32_t capture_pattern_fill(void *dst, size_t len, uint64_t sequence);
/** Offset of the first byte that differs from the pattern of `sequence`, or -1. */
int64_t capture_pattern_check(const void *src, size_t len, uint64_t sequence);
/** The header payload: the first 8 bytes are `sequence`, little-endian. */
void capture_header_stamp(void *dst, size_t len, uint64_t sequence);

/* ---- pixel formats (GStreamer's names) ------------------------------------------------ */

typedef struct capture_pixel_format {
    const char *name;          /* GStreamer's name: "GRAY8", "BGRx", "bggr", ... */
    uint8_t bytes_per_pixel;   /* 1, 2, 3 or 4 */
    uint8_t channels;          /* values per pixel: 1 (gray, Bayer) or 3 or 4 */
    char dtype[4];             /* NumPy typestr of one value: "|u1", "<u2", ">u2" */
    /* RGB family: the byte of each of R, G, B, A within a pixel (-1: not there; an unused x
     * byte is 0 in the test image). Gray: r = 0. Bayer: the CFA as the colour of (0,0),
     * (1,0), (0,1), (1,1): 'R', 'G', 'B'. */
    int8_t r, g, b, a;
    char cfa[4];
} capture_pixel_format;

/** The format named `name` (GStreamer's spelling, case-sensitive), or NULL. */
const capture_pixel_format *capture_pixel_format_find(const char *name);
/** The i-th supported format, or NULL past the last: for listing them. */
const capture_pixel_format *capture_pixel_format_at(size_t i);

/** 0 when `typestr` is a NumPy typestr this project supports ("<i2", ">f4", "|u1", "<c8"...),
 *  with its item size in *itemsize; -1 otherwise. */
int capture_dtype_parse(const char *typestr, uint32_t *itemsize);

/* ---- the image payload (a moving test picture) ---------------------------------------- */

/** Draws frame `sequence` of the test picture (PROTOCOL.md §6: eight colour bars scrolling
 *  left, a grey box moving down and right) in `format`, `width` x `height`, rows `stride`
 *  bytes apart (padding written as 0), into `dst` (stride * height bytes). Returns its
 *  CRC-32. */
uint32_t capture_image_fill(void *dst, const capture_pixel_format *format, uint32_t width, uint32_t height,
                            uint32_t stride, uint64_t sequence);
/** Offset of the first byte that differs from frame `sequence` of the picture, or -1. */
int64_t capture_image_check(const void *src, const capture_pixel_format *format, uint32_t width, uint32_t height,
                            uint32_t stride, uint64_t sequence);

#ifdef __cplusplus
}
#endif
#endif
