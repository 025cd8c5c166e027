/* A consumer of captured in C: the mean of every frame, zero-copy.
 *   cc consumer.c $(pkg-config --cflags --libs capture) -o consumer && ./consumer sim0 1000 */
#include <capture/capture.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *stream = argc > 1 ? argv[1] : "sim0";
    long wanted = argc > 2 ? atol(argv[2]) : 100;
    capture_client *client;
    int r = capture_connect(stream, NULL, &client);   /* lease mode, the default socket */
    if (r < 0) {
        fprintf(stderr, "consumer: %s: %s\n", capture_strerror(r), capture_last_message());
        return 1;
    }
    long frames = 0, bad = 0;
    while (frames < wanted) {
        capture_frame *frame;
        if ((r = capture_next_frame(client, 5000, &frame)) < 0) break;
        const unsigned char *p = capture_frame_data(frame);   /* the ring's own pages */
        size_t n = capture_frame_length(frame);
        unsigned long long sum = 0;
        for (size_t i = 0; i < n; i++) sum += p[i];
        if (capture_frame_check(frame) != 0) bad++;           /* CRC-32, test payload, seqlock */
        if (++frames % 100 == 0)
            printf("frame %llu: %zu bytes, mean %.1f\n", (unsigned long long)capture_frame_sequence(frame), n, (double)sum / (double)n);
        capture_frame_release(frame);                         /* the lease goes back */
    }
    capture_statistics st;
    capture_statistics_get(client, &st);
    printf("%ld frames, %ld bad, %llu dropped\n", frames, bad, (unsigned long long)st.dropped);
    capture_close(client);
    if (r < 0) fprintf(stderr, "consumer: %s: %s\n", capture_strerror(r), capture_last_message());
    return r < 0 || bad ? 1 : 0;
}
