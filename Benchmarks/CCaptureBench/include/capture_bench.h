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

/* The same eventfd as a stream, as a device delivers frames: the sender stamps a slot of a
 * shared array and writes the eventfd every `period_ns`, without waiting for the receiver;
 * the receiver blocks in read(2), then records now - stamp for every frame published since
 * its last wake-up (`newest_only` 0, as a lease client takes every frame) or for the newest
 * alone (`newest_only` 1, as a latest client does). A receiver that was off the CPU counts
 * every frame that waited meanwhile, where the ping-pong above counts one wake-up.
 * Fills `latencies_ns[count]`; returns how many it filled, or -1 with errno. */
int capture_bench_eventfd_stream(int newest_only, int count, uint64_t period_ns, uint64_t *latencies_ns);
