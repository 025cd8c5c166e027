/* The GStreamer reader of `make bench`: one pipeline `SOURCE ! fakesink sync=false` that counts
 * the buffers it receives with a pad probe on fakesink's sink pad.
 *
 *   gst-peer SOURCE OPENS_NS CLOSES_NS
 *
 * SOURCE is `shm:SOCKET` (shmsrc, fed by `gst-launch-1.0 fakesrc ... ! shmsink`) or
 * `capture:SOCKET:STREAM` (capturesrc, from captured). It counts the buffers that arrive between
 * OPENS_NS and CLOSES_NS (CLOCK_MONOTONIC, the window every client of a run shares) and prints
 * one JSON line: {"frames": N, "seconds": S, "bytes": B, "cpuSeconds": C}, C being the
 * process's CPU time (every thread: the streaming thread does the work) in the window. */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static guint64 clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (guint64)ts.tv_sec * 1000000000ull + (guint64)ts.tv_nsec;
}

struct counter {
    guint64 opens, closes, frames, bytes, cpu_open, cpu_close;
    gboolean opened, closed;
    GMainLoop *loop;
};

static GstPadProbeReturn on_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    struct counter *c = data;
    guint64 t = clock_ns(CLOCK_MONOTONIC);
    (void)pad;
    if (c->closed || t < c->opens) return GST_PAD_PROBE_OK;
    if (!c->opened) {
        c->opened = TRUE;
        c->cpu_open = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    }
    if (t >= c->closes) {
        c->closed = TRUE;
        c->cpu_close = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        g_main_loop_quit(c->loop);
        return GST_PAD_PROBE_OK;
    }
    c->frames++;
    c->bytes += gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info));
    return GST_PAD_PROBE_OK;
}

static gboolean on_deadline(gpointer data) {
    struct counter *c = data;
    g_main_loop_quit(c->loop);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gst-peer shm:SOCKET|capture:SOCKET:STREAM OPENS_NS CLOSES_NS\n");
        return 2;
    }
    gst_init(&argc, &argv);
    struct counter c = {0};
    c.opens = strtoull(argv[2], NULL, 10);
    c.closes = strtoull(argv[3], NULL, 10);
    c.loop = g_main_loop_new(NULL, FALSE);
    gchar *source = NULL;
    if (strncmp(argv[1], "shm:", 4) == 0) {
        source = g_strdup_printf("shmsrc socket-path=%s", argv[1] + 4);
    } else if (strncmp(argv[1], "capture:", 8) == 0) {
        gchar **parts = g_strsplit(argv[1] + 8, ":", 2);
        if (parts[0] && parts[1]) source = g_strdup_printf("capturesrc socket-path=%s stream=%s", parts[0], parts[1]);
        g_strfreev(parts);
    }
    if (!source) {
        fprintf(stderr, "gst-peer: no source in %s\n", argv[1]);
        return 2;
    }
    gchar *description = g_strdup_printf("%s ! fakesink name=sink sync=false", source);
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(description, &error);
    if (!pipeline) {
        fprintf(stderr, "gst-peer: %s\n", error->message);
        return 1;
    }
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &c, NULL);
    /* Give up 10 s after the window if buffers stop coming. */
    guint64 now = clock_ns(CLOCK_MONOTONIC);
    g_timeout_add((guint)((c.closes > now ? c.closes - now : 0) / 1000000 + 10000), on_deadline, &c);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    g_main_loop_run(c.loop);
    double seconds = c.opened ? (double)((c.closed ? c.closes : clock_ns(CLOCK_MONOTONIC)) - (c.opens)) / 1e9 : 0;
    double cpu = c.closed ? (double)(c.cpu_close - c.cpu_open) / 1e9 : 0;
    printf("{\"frames\": %llu, \"seconds\": %.6f, \"bytes\": %llu, \"cpuSeconds\": %.6f}\n",
           (unsigned long long)c.frames, seconds, (unsigned long long)c.bytes, cpu);
    fflush(stdout);
    /* No teardown: stopping a shmsrc mid-stream can block, and the process is done. */
    _exit(c.frames > 0 ? 0 : 1);
}
