/* The image payload: a moving test picture (PROTOCOL.md §6), deterministic per frame. */
#include "capture_payload.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t bars[8][3] = {
    { 255, 255, 255 }, { 255, 255, 0 }, { 0, 255, 255 }, { 0, 255, 0 },
    { 255, 0, 255 },   { 255, 0, 0 },   { 0, 0, 255 },   { 0, 0, 0 },
};
static const uint8_t box[3] = { 128, 128, 128 };

/* One pixel of colour (r, g, b) at (x, y) in `f`, into `out` (bytes_per_pixel bytes). */
static void encode(const capture_pixel_format *f, const uint8_t rgb[3], uint32_t x, uint32_t y, uint8_t *out) {
    unsigned v;
    if (f->cfa[0]) {
        char c = f->cfa[(y & 1) * 2 + (x & 1)];
        v = c == 'R' ? rgb[0] : c == 'G' ? rgb[1] : rgb[2];
    } else if (f->channels == 1) {
        v = (77u * rgb[0] + 150u * rgb[1] + 29u * rgb[2] + 128u) >> 8;
    } else {
        memset(out, 0, f->bytes_per_pixel);
        out[f->r] = rgb[0];
        out[f->g] = rgb[1];
        out[f->b] = rgb[2];
        if (f->a >= 0) out[f->a] = 255;
        return;
    }
    if (f->bytes_per_pixel == 1) {
        out[0] = (uint8_t)v;
    } else {   /* 16 bits: v * 257 spans the range */
        unsigned w = v * 257u;
        if (f->dtype[0] == '>') { out[0] = (uint8_t)(w >> 8); out[1] = (uint8_t)w; }
        else { out[0] = (uint8_t)w; out[1] = (uint8_t)(w >> 8); }
    }
}

struct geometry { uint64_t q; uint32_t w, h, bw, bh, left, top; };

static struct geometry frame_geometry(uint32_t width, uint32_t height, uint64_t sequence) {
    struct geometry g = { sequence, width, height, width / 8 ? width / 8 : 1, height / 8 ? height / 8 : 1, 0, 0 };
    g.left = (uint32_t)((3 * sequence) % (uint64_t)(width - g.bw + 1));
    g.top = (uint32_t)(sequence % (uint64_t)(height - g.bh + 1));
    return g;
}

/* The bars of row parity `y` (the box left out) into `row`, stride bytes, padding 0. */
static void draw_bars(const capture_pixel_format *f, const struct geometry *g, uint32_t stride, uint32_t y, uint8_t *row) {
    uint32_t bpp = f->bytes_per_pixel, shift = (uint32_t)(g->q % g->w);
    for (uint32_t x = 0; x < g->w; x++) {
        uint32_t u = x + shift;
        if (u >= g->w) u -= g->w;
        encode(f, bars[(uint64_t)u * 8 / g->w], x, y, row + (size_t)x * bpp);
    }
    memset(row + (size_t)g->w * bpp, 0, stride - (size_t)g->w * bpp);
}

/* The box's span of row y, over bars already in `row`. */
static void draw_box(const capture_pixel_format *f, const struct geometry *g, uint32_t y, uint8_t *row) {
    for (uint32_t x = g->left; x < g->left + g->bw; x++) encode(f, box, x, y, row + (size_t)x * f->bytes_per_pixel);
}

static int in_box(const struct geometry *g, uint32_t y) { return y >= g->top && y < g->top + g->bh; }

uint32_t capture_image_fill(void *dst, const capture_pixel_format *f, uint32_t width, uint32_t height,
                            uint32_t stride, uint64_t sequence) {
    if (!f || !width || !height || stride < width * f->bytes_per_pixel) return 0;
    struct geometry g = frame_geometry(width, height, sequence);
    uint8_t *p = dst;
    uint32_t crc = 0;
    /* Bars are the same on every row of a parity (two parities for Bayer, one otherwise): draw
     * them once per parity and copy, then the box on its rows. */
    uint32_t period = f->cfa[0] ? 2 : 1;
    int bars_at[2] = { -1, -1 };   /* a row already holding the bars of each parity, no box */
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *row = p + (size_t)y * stride;
        uint32_t parity = y % period;
        if (bars_at[parity] >= 0) {
            memcpy(row, p + (size_t)bars_at[parity] * stride, stride);
        } else {
            draw_bars(f, &g, stride, y, row);
            if (!in_box(&g, y)) bars_at[parity] = (int)y;
        }
        if (in_box(&g, y)) draw_box(f, &g, y, row);
        crc = capture_crc32_update(crc, row, stride);
    }
    return crc;
}

int64_t capture_image_check(const void *src, const capture_pixel_format *f, uint32_t width, uint32_t height,
                            uint32_t stride, uint64_t sequence) {
    if (!f || !width || !height || stride < width * f->bytes_per_pixel) return 0;
    struct geometry g = frame_geometry(width, height, sequence);
    /* The bars of each parity drawn once; box rows are those plus the box. */
    uint8_t *expected = malloc((size_t)stride * 3);
    if (!expected) return 0;
    uint8_t *bars_row[2] = { expected, expected + stride }, *scratch = expected + 2 * (size_t)stride;
    uint32_t period = f->cfa[0] ? 2 : 1;
    int drawn[2] = { 0, 0 };
    const uint8_t *p = src;
    int64_t bad = -1;
    for (uint32_t y = 0; y < height && bad < 0; y++) {
        uint32_t parity = y % period;
        if (!drawn[parity]) { draw_bars(f, &g, stride, y, bars_row[parity]); drawn[parity] = 1; }
        const uint8_t *want = bars_row[parity];
        if (in_box(&g, y)) {
            memcpy(scratch, want, stride);
            draw_box(f, &g, y, scratch);
            want = scratch;
        }
        const uint8_t *row = p + (size_t)y * stride;
        if (memcmp(row, want, stride) != 0)
            for (uint32_t i = 0; i < stride; i++)
                if (row[i] != want[i]) { bad = (int64_t)y * stride + i; break; }
    }
    free(expected);
    return bad;
}
