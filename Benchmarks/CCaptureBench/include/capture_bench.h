/* The machine's limits, measured by `capture-bench`: plain C so nothing of Swift's runtime
 * sits between the measurement and the syscall. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Copies `bytes` from one buffer to another `rounds` times with memcpy(3); returns the
 * nanoseconds it took (buffers allocated and touched before the clock starts). */
uint64_t capture_bench_memcpy_ns(size_t bytes, int rounds);

/* One-way wake-up latency of a bare eventfd: the sender writes CLOCK_MONOTONIC as the
 * eventfd's value every `period_ns`, the receiver blocks in read(2) and records now - value.
 * `processes` 0: two threads of this process; 1: a fork(2)ed child receives.
 * Fills `latencies_ns[count]`; returns 0, or -1 with errno. */
int capture_bench_eventfd_wake(int processes, int count, uint64_t period_ns, uint64_t *latencies_ns);
