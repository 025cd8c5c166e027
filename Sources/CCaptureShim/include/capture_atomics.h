/* Atomics on memory shared with other processes and the kernel (the ring's descriptors and
 * head): C11 orderings Swift cannot express on a raw pointer. */
#ifndef CAPTURE_ATOMICS_H
#define CAPTURE_ATOMICS_H
#include <stdint.h>

static inline uint64_t capture_load_acquire_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline void capture_store_release_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint64_t capture_load_relaxed_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}
static inline void capture_store_relaxed_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}
/* Holds (PROTOCOL.md §5.2) pair a store with a later load on the other side's word, a
 * Dekker pattern: only sequentially consistent stores, loads and fences order a store before a
 * later load. */
static inline void capture_store_seq_cst_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
}
static inline uint64_t capture_load_seq_cst_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
}
static inline uint32_t capture_add_seq_cst_u32(void *p, int32_t delta) {
    return __atomic_add_fetch((uint32_t *)p, (uint32_t)delta, __ATOMIC_SEQ_CST);
}
static inline void capture_store_seq_cst_u32(void *p, uint32_t v) {
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_SEQ_CST);
}
static inline uint32_t capture_load_seq_cst_u32(const void *p) {
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_SEQ_CST);
}
static inline void capture_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void capture_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void capture_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
#endif
