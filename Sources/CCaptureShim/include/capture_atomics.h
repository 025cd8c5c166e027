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
static inline void capture_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void capture_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
#endif
