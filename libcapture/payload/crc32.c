/*
 * CRC-32/ISO-HDLC (the CRC of zlib, Ethernet and Python's zlib.crc32), with nothing beyond
 * libc: carry-less multiplication folding on x86-64 CPUs that have PCLMULQDQ (the method of
 * Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", with the constants
 * for the bit-reflected polynomial 0x04C11DB7), slicing-by-8 tables everywhere else and for
 * what is left over.
 */
#include "capture_payload.h"

#include <string.h>

static uint32_t table[8][256];
static int tables_ready;

static void make_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

/* `c` is the register (not inverted). */
static uint32_t crc_tables(uint32_t c, const uint8_t *p, size_t len) {
    if (!__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)) make_tables(); /* racing first calls build the same tables */
    while (len && ((uintptr_t)p & 7)) { c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8); len--; }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);   /* little-endian hosts only, like the ring itself */
        uint32_t lo = (uint32_t)w ^ c, hi = (uint32_t)(w >> 32);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CAPTURE_CRC_FOLD 1

/* Folds 64-byte blocks four at a time, then 16-byte blocks, then reduces to 32 bits (Barrett).
 * Takes and returns the register; `len` is at least 64 and a multiple of 16. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_fold(uint32_t c, const uint8_t *p, size_t len) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);   /* x^(4*128+32), x^(4*128-32) mod P */
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);   /* x^(128+32), x^(128-32) mod P */
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);                 /* x^64 mod P */
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);   /* P(x)' and mu' for Barrett */
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
    __m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i d = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i e = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64;
    len -= 64;
    while (len >= 64) {
#define FOLD4(x, off) x = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k1k2, 0x00), _mm_clmulepi64_si128(x, k1k2, 0x11)), \
                                          _mm_loadu_si128((const __m128i *)(p + off)))
        FOLD4(a, 0);
        FOLD4(b, 16);
        FOLD4(d, 32);
        FOLD4(e, 48);
#undef FOLD4
        p += 64;
        len -= 64;
    }
#define FOLD1(x, next) x = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k3k4, 0x00), _mm_clmulepi64_si128(x, k3k4, 0x11)), next)
    FOLD1(a, b);
    FOLD1(a, d);
    FOLD1(a, e);
    while (len >= 16) {
        FOLD1(a, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
#undef FOLD1
    /* 128 bits to 64. */
    __m128i t = _mm_clmulepi64_si128(a, k3k4, 0x10);
    a = _mm_xor_si128(_mm_srli_si128(a, 8), t);
    t = _mm_srli_si128(a, 4);
    a = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(a, low32), k5, 0x00), t);
    /* 64 bits to 32: Barrett reduction. */
    t = _mm_clmulepi64_si128(_mm_and_si128(a, low32), poly, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly, 0x00);
    a = _mm_xor_si128(a, t);
    return (uint32_t)_mm_extract_epi32(a, 1);
}

static int fold_available(void) {
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}
#endif

uint32_t capture_crc32_update(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    uint32_t c = ~crc;
#ifdef CAPTURE_CRC_FOLD
    if (len >= 64 && fold_available()) {
        size_t n = len & ~(size_t)15;
        c = crc_fold(c, p, n);
        p += n;
        len -= n;
    }
#endif
    return ~crc_tables(c, p, len);
}

uint32_t capture_crc32(const void *buf, size_t len) { return capture_crc32_update(0, buf, len); }
