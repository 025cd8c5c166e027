/* The conformance scenarios (Tests/CaptureServiceTests/ConformanceTests.swift) for libcapture.
 *   conform SCENARIO SOCKET STREAM [N]
 * Prints `result key=value ...` on the last line; reads commands on stdin where a scenario
 * waits for the harness (`release`, `close`, `check`). */
#include <capture/capture.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static capture_client *open_client(const char *socket, const char *stream, capture_mode mode, uint32_t reconnect_ms) {
    capture_options o;
    capture_options_init(&o);
    o.socket_path = socket;
    o.mode = mode;
    o.reconnect_ms = reconnect_ms;
    capture_client *c;
    int r = capture_connect(stream, &o, &c);
    if (r < 0) {
        printf("result error=%d refused=%d message=%s\n", r, r == -CAPTURE_EREFUSED, capture_last_message());
        exit(r == -CAPTURE_EREFUSED ? 0 : 1);
    }
    return c;
}

static void wait_for(const char *command) {
    char line[64];
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin))
        if (strncmp(line, command, strlen(command)) == 0) return;
}

/* Frames until `n`, checking each: the tally the harness compares across clients. */
static int run(capture_client *c, long n, int lease, long slow_us, long stall_us) {
    long frames = 0, corrupt = 0, out_of_order = 0, gaps = 0, overwritten = 0, reconnected = 0;
    uint64_t last = 0, reported_to = 0, dropped = 0;
    int r = 0;
    while (frames < n) {
        capture_event ev;
        if ((r = capture_next_event(c, 10000, &ev)) < 0) break;
        if (ev.type == CAPTURE_EVENT_DROPPED) {
            dropped += ev.count;
            if (ev.first_sequence + ev.count - 1 > reported_to) reported_to = ev.first_sequence + ev.count - 1;
            continue;
        }
        if (ev.type == CAPTURE_EVENT_RECONNECTED) { reconnected++; last = ev.sequence; reported_to = ev.sequence; continue; }
        if (ev.type != CAPTURE_EVENT_FRAME) continue;
        capture_frame *f = ev.frame;
        uint64_t seq = capture_frame_sequence(f);
        if (slow_us) usleep((useconds_t)slow_us);   /* give the device time to overwrite it */
        int check = capture_frame_check(f);
        if (check == -CAPTURE_EOVERWRITTEN && !lease) overwritten++;
        else if (check != 0) { corrupt++; fprintf(stderr, "%s\n", capture_last_message()); }
        if (last && seq <= last) out_of_order++;
        else if (lease && last && seq > last + 1 && reported_to < seq - 1) gaps++;
        if (seq > last) last = seq;
        frames++;
        capture_frame_release(f);
        if (stall_us && frames == 1) usleep((useconds_t)stall_us); /* off the CPU for longer than the ring lasts */
    }
    printf("result frames=%ld corrupt=%ld out_of_order=%ld gaps=%ld dropped=%llu overwritten=%ld reconnected=%ld error=%d\n",
           frames, corrupt, out_of_order, gaps, (unsigned long long)dropped, overwritten, reconnected, r);
    return r < 0 ? 1 : 0;
}

/* A thread waits for a frame that will not come soon; capture_wakeup() must end the wait. */
struct waiter { capture_client *c; int busy_poll; int r; };

static void *wait_for_frame(void *arg) {
    struct waiter *w = arg;
    capture_frame *f = NULL;
    w->r = w->busy_poll ? capture_next_frame_busy_poll(w->c, -1, &f) : capture_next_frame(w->c, -1, &f);
    if (w->r == 0) capture_frame_release(f);
    return NULL;
}

static int wakeup(const char *socket, const char *stream) {
    int woken = 0;
    for (int busy = 0; busy < 2; busy++) {
        capture_client *c = open_client(socket, stream, busy ? CAPTURE_MODE_LATEST : CAPTURE_MODE_LEASE, 0);
        struct waiter w = { c, busy, 1 };
        pthread_t t;
        pthread_create(&t, NULL, wait_for_frame, &w);
        usleep(200000);
        capture_wakeup(c);
        pthread_join(t, NULL);
        woken += w.r == -CAPTURE_EWOKEN;
        capture_close(c);
    }
    printf("result woken=%d of=2\n", woken);
    return 0;
}

/* The event-loop API as an epoll or GLib loop uses it: poll(capture_fd()), capture_dispatch(),
 * then what it queued in one capture_next_frames(timeout 0) batch, then poll again. A client
 * the device has stopped ringing sits in poll(): 2 s of nothing ends the run short. */
static int event_loop(const char *socket, const char *stream, long n) {
    capture_client *c = open_client(socket, stream, CAPTURE_MODE_LEASE, 0);
    long frames = 0, corrupt = 0, out_of_order = 0, silent = 0;
    uint64_t last = 0;
    int r = 0;
    struct pollfd p = { .fd = capture_fd(c), .events = POLLIN };
    while (frames < n) {
        int ready = poll(&p, 1, 2000);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) { silent++; break; }
        int queued = capture_dispatch(c);
        if (queued < 0) { r = queued; break; }
        capture_frame *batch[64];
        int got = capture_next_frames(c, 0, batch, 64);
        if (got == -CAPTURE_ETIMEDOUT) { r = 0; continue; }
        if (got < 0) { r = got; break; }
        for (int i = 0; i < got; i++) {
            uint64_t seq = capture_frame_sequence(batch[i]);
            if (capture_frame_check(batch[i]) != 0) corrupt++;
            if (last && seq <= last) out_of_order++;
            if (seq > last) last = seq;
            frames++;
        }
        capture_release_frames(batch, (size_t)got);
    }
    capture_statistics st;
    capture_statistics_get(c, &st);
    printf("result frames=%ld corrupt=%ld out_of_order=%ld gaps=0 dropped=%llu silent=%ld error=%d\n",
           frames, corrupt, out_of_order, (unsigned long long)st.dropped, silent, r);
    capture_close(c);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: conform frames|latest|torn|hold|reconnect|refused|gone|wakeup|event-loop SOCKET STREAM [N]\n");
        return 2;
    }
    const char *scenario = argv[1], *socket = argv[2], *stream = argv[3];
    long n = argc > 4 ? atol(argv[4]) : 100;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(scenario, "frames")) return run(open_client(socket, stream, CAPTURE_MODE_LEASE, 0), n, 1, 0, 0);
    if (!strcmp(scenario, "latest")) return run(open_client(socket, stream, CAPTURE_MODE_LATEST, 0), n, 0, 0, 0);
    if (!strcmp(scenario, "torn")) return run(open_client(socket, stream, CAPTURE_MODE_LATEST, 0), n, 0, 2000, 0);
    if (!strcmp(scenario, "reconnect")) return run(open_client(socket, stream, CAPTURE_MODE_LEASE, 20000), n, 1, 0, 0);
    if (!strcmp(scenario, "stall")) return run(open_client(socket, stream, CAPTURE_MODE_LEASE, 0), n, 1, 0, 300000);
    if (!strcmp(scenario, "wakeup")) return wakeup(socket, stream);
    if (!strcmp(scenario, "event-loop")) return event_loop(socket, stream, n);
    if (!strcmp(scenario, "refused")) { open_client(socket, stream, CAPTURE_MODE_LEASE, 0); printf("result refused=0\n"); return 1; }
    if (!strcmp(scenario, "hold") || !strcmp(scenario, "gone")) {
        capture_client *c = open_client(socket, stream, CAPTURE_MODE_LEASE, 0);
        capture_frame *held[64];
        long k = 0;
        for (; k < n && k < 64; k++)
            if (capture_next_frame(c, 10000, &held[k]) < 0) break;
        printf("holding %ld\n", k);
        if (!strcmp(scenario, "gone")) {
            wait_for("check");   /* the harness stopped the daemon meanwhile */
            int intact = 0;
            for (long i = 0; i < k; i++) {
                int check = capture_frame_check(held[i]);
                if (check == 0) intact++;
                else fprintf(stderr, "conform: frame %llu: %s\n", (unsigned long long)capture_frame_sequence(held[i]), capture_last_message());
            }
            capture_release_frames(held, (size_t)k);
            capture_close(c);
            printf("result intact=%d of=%ld\n", intact, k);
            return 0;
        }
        char line[64];
        printf("ready\n");
        while (fgets(line, sizeof(line), stdin)) {
            if (!strncmp(line, "release", 7)) { capture_release_frames(held, (size_t)k); k = 0; printf("released\n"); }
            if (!strncmp(line, "close", 5)) { capture_close(c); printf("closed\n"); return 0; }
        }
        return 0;
    }
    fprintf(stderr, "conform: no scenario %s\n", scenario);
    return 2;
}
