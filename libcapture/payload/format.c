/* Pixel formats, by GStreamer's names, and NumPy typestrs. */
#include "capture_payload.h"

#include <string.h>

static const capture_pixel_format formats[] = {
    /* name        bpp ch dtype    r   g   b   a   cfa */
    { "GRAY8",      1, 1, "|u1",   0, -1, -1, -1, "" },
    { "GRAY16_LE",  2, 1, "<u2",   0, -1, -1, -1, "" },
    { "GRAY16_BE",  2, 1, ">u2",   0, -1, -1, -1, "" },
    { "RGB",        3, 3, "|u1",   0,  1,  2, -1, "" },
    { "BGR",        3, 3, "|u1",   2,  1,  0, -1, "" },
    { "RGBx",       4, 4, "|u1",   0,  1,  2, -1, "" },
    { "BGRx",       4, 4, "|u1",   2,  1,  0, -1, "" },
    { "xRGB",       4, 4, "|u1",   1,  2,  3, -1, "" },
    { "xBGR",       4, 4, "|u1",   3,  2,  1, -1, "" },
    { "RGBA",       4, 4, "|u1",   0,  1,  2,  3, "" },
    { "BGRA",       4, 4, "|u1",   2,  1,  0,  3, "" },
    { "ARGB",       4, 4, "|u1",   1,  2,  3,  0, "" },
    { "ABGR",       4, 4, "|u1",   3,  2,  1,  0, "" },
    { "bggr",       1, 1, "|u1",  -1, -1, -1, -1, "BGGR" },
    { "rggb",       1, 1, "|u1",  -1, -1, -1, -1, "RGGB" },
    { "grbg",       1, 1, "|u1",  -1, -1, -1, -1, "GRBG" },
    { "gbrg",       1, 1, "|u1",  -1, -1, -1, -1, "GBRG" },
    { "bggr16le",   2, 1, "<u2",  -1, -1, -1, -1, "BGGR" },
    { "rggb16le",   2, 1, "<u2",  -1, -1, -1, -1, "RGGB" },
    { "grbg16le",   2, 1, "<u2",  -1, -1, -1, -1, "GRBG" },
    { "gbrg16le",   2, 1, "<u2",  -1, -1, -1, -1, "GBRG" },
};

const capture_pixel_format *capture_pixel_format_find(const char *name) {
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0) return &formats[i];
    return NULL;
}

const capture_pixel_format *capture_pixel_format_at(size_t i) {
    return i < sizeof(formats) / sizeof(formats[0]) ? &formats[i] : NULL;
}

int capture_dtype_parse(const char *t, uint32_t *itemsize) {
    if (!t || (t[0] != '<' && t[0] != '>' && t[0] != '|')) return -1;
    char kind = t[1];
    if (kind != 'i' && kind != 'u' && kind != 'f' && kind != 'c') return -1;
    uint32_t n = 0;
    const char *p = t + 2;
    if (*p < '1' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9' && n < 100) n = n * 10 + (uint32_t)(*p++ - '0');
    if (*p) return -1;
    int ok = ((kind == 'i' || kind == 'u') && (n == 1 || n == 2 || n == 4 || n == 8)) ||
             (kind == 'f' && (n == 2 || n == 4 || n == 8)) || (kind == 'c' && (n == 8 || n == 16));
    if (!ok) return -1;
    if ((n == 1) != (t[0] == '|')) return -1;   /* one byte has no order; more bytes must say theirs */
    if (itemsize) *itemsize = n;
    return 0;
}
