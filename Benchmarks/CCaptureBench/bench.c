#define _GNU_SOURCE
#include "capture_bench.h"
#include "capture_events.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) { return capture_monotonic_ns(); }

static void sleep_until(uint64_t deadline) {
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull), .tv_nsec = (long)(deadline % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

uint64_t capture_bench_memcpy_ns(size_t bytes, int rounds) {
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) { free(a); free(b); return 0; }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    uint64_t start = now_ns();
    for (int i = 0; i < rounds; i++) {
        memcpy(i & 1 ? a : b, i & 1 ? b : a, bytes);
        __asm__ volatile("" ::: "memory"); /* keep every copy */
    }
    uint64_t ns = now_ns() - start;
    free(a);
    free(b);
    return ns;
}

struct wake {
    int efd;     /* sender -> receiver: the value is the send time */
    int ack;     /* receiver -> sender: ready for the next one */
    int count;
    uint64_t *latencies;
};

static void *receive(void *arg) {
    struct wake *w = arg;
    for (int i = 0; i < w->count; i++) {
        uint64_t sent, one = 1;
        if (read(w->efd, &sent, sizeof sent) != sizeof sent) return (void *)-1;
        w->latencies[i] = now_ns() - sent;
        if (write(w->ack, &one, sizeof one) != sizeof one) return (void *)-1;
    }
    return NULL;
}

static int send_all(struct wake *w, uint64_t period_ns) {
    uint64_t next = now_ns() + period_ns;
    for (int i = 0; i < w->count; i++) {
        sleep_until(next);
        next += period_ns;
        uint64_t t = now_ns(), acked;
        if (write(w->efd, &t, sizeof t) != sizeof t) return -1;
        if (read(w->ack, &acked, sizeof acked) != sizeof acked) return -1;
    }
    return 0;
}

int capture_bench_eventfd_wake(int processes, int count, uint64_t period_ns, uint64_t *latencies_ns) {
    struct wake w = {.efd = eventfd(0, EFD_CLOEXEC), .ack = eventfd(0, EFD_CLOEXEC), .count = count};
    int rc = -1, saved = 0;
    if (w.efd < 0 || w.ack < 0) goto out;
    if (!processes) {
        pthread_t t;
        w.latencies = latencies_ns;
        if ((errno = pthread_create(&t, NULL, receive, &w)) != 0) goto out;
        rc = send_all(&w, period_ns);
        saved = errno;
        void *result;
        pthread_join(t, &result);
        if (result != NULL) rc = -1;
    } else {
        /* The child writes its figures into shared memory; it only makes syscalls, then _exit. */
        size_t bytes = (size_t)count * sizeof(uint64_t);
        w.latencies = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (w.latencies == MAP_FAILED) goto out;
        pid_t child = fork();
        if (child < 0) { saved = errno; munmap(w.latencies, bytes); errno = saved; goto out; }
        if (child == 0) _exit(receive(&w) == NULL ? 0 : 1);
        rc = send_all(&w, period_ns);
        saved = errno;
        if (rc != 0) kill(child, SIGKILL); /* it would wait for the next wake-up forever */
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = -1;
        memcpy(latencies_ns, w.latencies, bytes);
        munmap(w.latencies, bytes);
    }
    errno = saved;
out:
    saved = errno;
    if (w.efd >= 0) close(w.efd);
    if (w.ack >= 0) close(w.ack);
    errno = saved;
    return rc;
}

int capture_bench_eventfd_stream(int newest_only, int count, uint64_t period_ns, uint64_t *latencies_ns) {
    /* Shared: [0] frames published, [1] latencies filled, [2..] stamps, then latencies. */
    size_t bytes = (size_t)(2 + 2 * count) * sizeof(uint64_t);
    uint64_t *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return -1;
    uint64_t *stamps = shared + 2, *latencies = shared + 2 + count;
    int efd = eventfd(0, EFD_CLOEXEC), rc = -1, saved = 0;
    if (efd < 0) goto out;
    pid_t child = fork();
    if (child < 0) goto out;
    if (child == 0) {
        uint64_t seen = 0, filled = 0, value;
        while (seen < (uint64_t)count) {
            if (read(efd, &value, sizeof value) != sizeof value) _exit(1);
            uint64_t head = __atomic_load_n(&shared[0], __ATOMIC_ACQUIRE), t = now_ns();
            if (newest_only && head > seen) { latencies[filled++] = t - stamps[head - 1]; seen = head; }
            for (; seen < head; seen++) latencies[filled++] = t - stamps[seen];
        }
        __atomic_store_n(&shared[1], filled, __ATOMIC_RELEASE);
        _exit(0);
    }
    uint64_t next = now_ns() + period_ns, one = 1;
    for (int i = 0; i < count; i++) {
        sleep_until(next);
        next += period_ns;
        stamps[i] = now_ns();
        __atomic_store_n(&shared[0], (uint64_t)i + 1, __ATOMIC_RELEASE);
        if (write(efd, &one, sizeof one) != sizeof one) { saved = errno; kill(child, SIGKILL); break; }
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (!saved && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = (int)__atomic_load_n(&shared[1], __ATOMIC_ACQUIRE);
        memcpy(latencies_ns, latencies, (size_t)rc * sizeof(uint64_t));
    }
    errno = saved;
out:
    saved = errno;
    if (efd >= 0) close(efd);
    munmap(shared, bytes);
    errno = saved;
    return rc;
}
