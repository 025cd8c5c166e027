/* The benchmark's C client: libcapture as an application would use it, measured exactly as
 * `capture-bench client` measures the Swift client (header read, next_frames + one batch
 * release), printing the same JSON line.
 *   c-client --socket PATH [--stream bench] [--mode lease|latest] --opens NS --closes NS */
#include <capture/capture.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *socket = NULL, *stream = "bench", *mode = "lease";
    uint64_t opens = 0, closes = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--socket")) socket = argv[i + 1];
        else if (!strcmp(argv[i], "--stream")) stream = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--opens")) opens = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--closes")) closes = strtoull(argv[i + 1], NULL, 10);
    }
    if (!socket || !closes) {
        fprintf(stderr, "usage: c-client --socket PATH [--stream S] [--mode lease|latest] --opens NS --closes NS\n");
        return 2;
    }
    capture_options o;
    capture_options_init(&o);
    o.socket_path = socket;
    o.mode = strcmp(mode, "latest") ? CAPTURE_MODE_LEASE : CAPTURE_MODE_LATEST;
    capture_client *c;
    int r = capture_connect(stream, &o, &c);
    if (r < 0) {
        fprintf(stderr, "c-client: %s: %s\n", capture_strerror(r), capture_last_message());
        return 1;
    }
    enum { BATCH = 1024 };
    static capture_frame *frames[BATCH];
    uint64_t counted = 0, bytes = 0, overwritten = 0, corrupt = 0, cpu_open = 0, batches = 0;
    capture_statistics at_open = {0}, end;
    int opened = 0;
    for (;;) {
        int n = capture_next_frames(c, 10000, frames, BATCH);
        if (n < 0) {
            fprintf(stderr, "c-client: %s: %s\n", capture_strerror(n), capture_last_message());
            return 1;
        }
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (now >= closes) { capture_release_frames(frames, (size_t)n); break; }
        if (!opened && now >= opens) {
            opened = 1;
            capture_statistics_get(c, &at_open);
            cpu_open = now_ns(CLOCK_THREAD_CPUTIME_ID);
        }
        if (opened) batches++;
        for (int i = 0; i < n; i++) {
            size_t length = capture_frame_length(frames[i]);
            uint64_t stamp = 0;
            if (length >= 8) memcpy(&stamp, capture_frame_data(frames[i]), 8);
            if (!capture_frame_intact(frames[i])) overwritten++;
            else if (opened) {
                if (length >= 8 && stamp != capture_frame_sequence(frames[i])) corrupt++;
                counted++;
                bytes += length;
            }
        }
        capture_release_frames(frames, (size_t)n);
    }
    capture_statistics_get(c, &end);
    double cpu = opened ? (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_open) / 1e9 : 0;
    double seconds = opened ? (double)(closes - opens) / 1e9 : 0;
    printf("{\"frames\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"dropped\":%llu,\"overwritten\":%llu,\"corrupt\":%llu,\"cpuSeconds\":%.6f,\"batches\":%llu}\n",
           (unsigned long long)counted, (unsigned long long)bytes, seconds,
           (unsigned long long)(end.dropped - at_open.dropped), (unsigned long long)(overwritten + end.overwritten - at_open.overwritten),
           (unsigned long long)corrupt, cpu, (unsigned long long)batches);
    capture_close(c);
    return 0;
}
