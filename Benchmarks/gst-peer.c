/* The GStreamer peer of `make bench`: one shmsrc reader that counts the buffers it receives.
 *
 *   gst-peer SOCKET WARMUP_S MEASURE_S
 *
 * Runs `shmsrc socket-path=SOCKET ! fakesink sync=false` and counts buffers with a pad probe on
 * fakesink's sink pad; after WARMUP_S seconds of receiving it counts for MEASURE_S seconds and
 * prints one JSON line: {"frames": N, "seconds": S, "bytes": B}. The sender is
 * `gst-launch-1.0 fakesrc sizetype=fixed sizemax=BYTES ! shmsink socket-path=SOCKET ...`. */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static guint64 now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (guint64)ts.tv_sec * 1000000000ull + (guint64)ts.tv_nsec;
}

struct counter {
    guint64 first, start, end, frames, bytes, warmup_ns, measure_ns;
    GMainLoop *loop;
};

static GstPadProbeReturn on_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    struct counter *c = data;
    guint64 t = now_ns();
    (void)pad;
    if (c->first == 0) c->first = t;
    if (c->start == 0 && t - c->first >= c->warmup_ns) c->start = t;
    if (c->start != 0 && c->end == 0) {
        if (t - c->start >= c->measure_ns) {
            c->end = t;
            g_main_loop_quit(c->loop);
        } else {
            c->frames++;
            c->bytes += gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info));
        }
    }
    return GST_PAD_PROBE_OK;
}

static gboolean on_deadline(gpointer data) {
    struct counter *c = data;
    if (c->end == 0) c->end = now_ns();
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gst-peer SOCKET WARMUP_S MEASURE_S\n");
        return 2;
    }
    gst_init(&argc, &argv);
    struct counter c = {0};
    c.warmup_ns = (guint64)(atof(argv[2]) * 1e9);
    c.measure_ns = (guint64)(atof(argv[3]) * 1e9);
    c.loop = g_main_loop_new(NULL, FALSE);
    gchar *description = g_strdup_printf("shmsrc socket-path=%s ! fakesink name=sink sync=false", argv[1]);
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(description, &error);
    if (!pipeline) {
        fprintf(stderr, "gst-peer: %s\n", error->message);
        return 1;
    }
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &c, NULL);
    /* Give up if nothing arrives: warm-up + measure + 10 s. */
    g_timeout_add((guint)((c.warmup_ns + c.measure_ns) / 1000000 + 10000), on_deadline, &c);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    g_main_loop_run(c.loop);
    double seconds = c.start && c.end > c.start ? (double)(c.end - c.start) / 1e9 : 0;
    printf("{\"frames\": %llu, \"seconds\": %.6f, \"bytes\": %llu}\n",
           (unsigned long long)c.frames, seconds, (unsigned long long)c.bytes);
    fflush(stdout);
    /* No teardown: stopping a shmsrc mid-stream can block, and the process is done. */
    _exit(c.frames > 0 ? 0 : 1);
}
