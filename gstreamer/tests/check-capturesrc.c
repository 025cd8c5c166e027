/* capturesrc under test: `capturesrc ! appsink`, every buffer checked.
 *   check-capturesrc verify SOCKET STREAM N [MAX_LEASES [PULL_DELAY_MS [MODE]]]
 *   check-capturesrc hold SOCKET STREAM N      holds N buffers, prints "holding N pid=P", waits
 *                                              for "release" on stdin, then pulls 50 more
 * For each buffer: the sequence (OFFSET) goes up; a gap carries DISCONT and was reported by a
 * capture-dropped message (or a reconnect); its size is the frame's; its PTS is valid and
 * does not go back; the bytes are the stream's test payload for that sequence (CRC-32 of the
 * buffer against that of the regenerated payload, or row by row when the element had to copy
 * an image to GStreamer's stride); the memory lies in this process's read-only mapping of the
 * ring and cannot be mapped for writing.
 * Prints `result key=value ...` last. */
#include <capture/capture.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture_payload.h"

/* The drops the element reported on the bus, as sequence ranges. */
static GMutex lock;
static GArray *reported;      /* pairs of guint64: first, count */
static int reconnects;

static GstBusSyncReply on_message (GstBus * bus, GstMessage * m, gpointer data) {
  (void) bus;
  (void) data;
  const GstStructure *s = gst_message_get_structure (m);
  g_mutex_lock (&lock);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && s && gst_structure_has_name (s, "capture-dropped")) {
    guint64 range[2];
    gst_structure_get_uint64 (s, "first", &range[0]);
    gst_structure_get_uint64 (s, "count", &range[1]);
    g_array_append_vals (reported, range, 2);
  } else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
    GError *e = NULL;
    gst_message_parse_warning (m, &e, NULL);
    if (e && strstr (e->message, "reconnected")) reconnects++;
    g_clear_error (&e);
  } else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gchar *debug = NULL;
    gst_message_parse_error (m, &e, &debug);
    fprintf (stderr, "check-capturesrc: error: %s (%s)\n", e ? e->message : "?", debug ? debug : "");
    g_clear_error (&e);
    g_free (debug);
  }
  g_mutex_unlock (&lock);
  return GST_BUS_PASS;
}

/* Were frames from .. to (inclusive) all reported dropped? */
static gboolean covered (guint64 from, guint64 to) {
  g_mutex_lock (&lock);
  guint64 *r = (guint64 *) reported->data;
  for (guint64 seq = from; seq <= to; seq++) {
    gboolean found = FALSE;
    for (guint i = 0; i + 1 < reported->len && !found; i += 2) found = seq >= r[i] && seq < r[i] + r[i + 1];
    if (!found) {
      g_mutex_unlock (&lock);
      return FALSE;
    }
  }
  g_mutex_unlock (&lock);
  return TRUE;
}

/* Where this process mapped the ring: "memfd:capture-ring-STREAM" in /proc/self/maps. */
static gboolean in_ring (const void *p, gsize n, const char *stream) {
  char want[128], line[512];
  snprintf (want, sizeof (want), "memfd:capture-ring-%s", stream);
  FILE *maps = fopen ("/proc/self/maps", "r");
  gboolean inside = FALSE;
  while (maps && !inside && fgets (line, sizeof (line), maps)) {
    uintptr_t lo, hi;
    char perms[8];
    if (strstr (line, want) && sscanf (line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) == 3)
      inside = (uintptr_t) p >= lo && (uintptr_t) p + n <= hi && perms[1] == '-';   /* and not writable */
  }
  if (maps) fclose (maps);
  return inside;
}

/* The payload the synthetic device writes for `sequence`, regenerated into `scratch`; its
 * CRC-32, or 0 if this payload is not one we can regenerate. */
static uint32_t expected (const capture_format *f, uint32_t payload, uint64_t sequence, gsize n, guint8 *scratch) {
  if (payload == 1) return capture_pattern_fill (scratch, n, sequence);
  if (payload == 3 && f->kind == CAPTURE_FORMAT_IMAGE) {
    const capture_pixel_format *p = capture_pixel_format_find (f->pixel_format);
    return p ? capture_image_fill (scratch, p, f->width, f->height, f->stride, sequence) : 0;
  }
  return 0;
}

/* Whether an image buffer with rows `stride` apart holds the rows of `scratch` (rows
 * f->stride apart). */
static gboolean same_rows (const capture_format *f, const guint8 *data, gsize size, guint stride, const guint8 *scratch) {
  gsize row = (gsize) f->width * f->bytes_per_pixel;
  if (size < (gsize) stride * (f->height - 1) + row) return FALSE;
  for (guint y = 0; y < f->height; y++)
    if (memcmp (data + (gsize) y * stride, scratch + (gsize) y * f->stride, row) != 0) return FALSE;
  return TRUE;
}

int main (int argc, char **argv) {
  gst_init (&argc, &argv);
  if (argc < 5) {
    fprintf (stderr, "usage: check-capturesrc verify|hold SOCKET STREAM N [MAX_LEASES [PULL_DELAY_MS]]\n");
    return 2;
  }
  const char *scenario = argv[1], *socket = argv[2], *stream = argv[3];
  long n = atol (argv[4]), max_leases = argc > 5 ? atol (argv[5]) : 0, delay_ms = argc > 6 ? atol (argv[6]) : 0;
  const char *mode = argc > 7 ? argv[7] : "lease";
  gboolean hold = strcmp (scenario, "hold") == 0;
  setvbuf (stdout, NULL, _IOLBF, 0);
  reported = g_array_new (FALSE, FALSE, sizeof (guint64));

  /* What the stream holds, for regenerating its payload. */
  capture_options o;
  capture_options_init (&o);
  o.socket_path = socket;
  capture_client *peek;
  if (capture_connect (stream, &o, &peek) < 0) {
    printf ("result error=connect message=%s\n", capture_last_message ());
    return 1;
  }
  capture_format format = *capture_stream_format (peek);
  capture_stream_info info;
  capture_stream_info_get (peek, &info);
  capture_close (peek);

  gchar *desc = g_strdup_printf ("capturesrc name=src stream=%s socket-path=%s max-leases=%ld mode=%s ! "
                                 "appsink name=sink sync=false max-buffers=%ld", stream, socket, max_leases, mode, hold ? n + 8 : 4);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  if (!pipeline) {
    printf ("result error=parse message=%s\n", error->message);
    return 1;
  }
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_message, NULL, NULL);
  GstAppSink *sink = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (pipeline), "sink"));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  guint8 *scratch = g_malloc (info.frame_bytes + 4096);   /* expected() writes at most frame_bytes */
  long frames = 0, corrupt = 0, out_of_order = 0, unreported = 0, discont_wrong = 0, outside = 0, writable = 0, gaps = 0;
  long bad_size = 0, bad_pts = 0;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  gsize frame_length = format.kind == CAPTURE_FORMAT_IMAGE ? (gsize) format.stride * format.height : (gsize) info.frame_bytes;
  guint64 last = 0;
  int seen_reconnects = 0;
  GPtrArray *held = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_sample_unref);
  long want = hold ? n + 50 : n;
  while (frames < want) {
    if (hold && frames == n) {
      printf ("holding %ld pid=%d\n", n, (int) getpid ());
      char line[64];
      while (fgets (line, sizeof (line), stdin) && strncmp (line, "release", 7) != 0) {}
      g_ptr_array_set_size (held, 0);   /* the buffers go, and with them their leases */
      printf ("released\n");
    }
    GstSample *sample = gst_app_sink_try_pull_sample (sink, 20 * GST_SECOND);
    if (!sample) break;
    GstBuffer *buf = gst_sample_get_buffer (sample);
    guint64 seq = GST_BUFFER_OFFSET (buf);
    gboolean discont = GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT);
    g_mutex_lock (&lock);
    int now_reconnects = reconnects;
    g_mutex_unlock (&lock);
    if (now_reconnects != seen_reconnects) {   /* a new session (a restarted daemon numbers from 1) */
      seen_reconnects = now_reconnects;
      if (!discont) discont_wrong++;
      last = 0;
    }
    if (last && seq <= last) out_of_order++;
    else if (last && seq > last + 1) {
      gaps++;
      if (!discont) discont_wrong++;
      if (!covered (last + 1, seq - 1)) unreported++;
    } else if (last && discont) {
      discont_wrong++;   /* DISCONT without a gap */
    }
    last = seq;
    GstClockTime pts = GST_BUFFER_PTS (buf);
    if (!GST_CLOCK_TIME_IS_VALID (pts) || (GST_CLOCK_TIME_IS_VALID (last_pts) && pts < last_pts && !discont)) bad_pts++;
    last_pts = pts;
    GstMapInfo map;
    if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
      GstVideoMeta *vmeta = gst_buffer_get_video_meta (buf);
      guint copied_stride = GST_ROUND_UP_4 (format.width * format.bytes_per_pixel);
      gboolean copy = format.kind == CAPTURE_FORMAT_IMAGE && !vmeta && format.stride != copied_stride;
      if (copy ? map.size != (gsize) copied_stride * format.height : map.size != frame_length) bad_size++;
      else {
        uint32_t want_crc = expected (&format, info.payload, seq, frame_length, scratch);
        if (want_crc && copy && !same_rows (&format, map.data, map.size, copied_stride, scratch)) corrupt++;
        if (want_crc && !copy && capture_crc32 (map.data, map.size) != want_crc) corrupt++;
      }
      if (!copy && !in_ring (map.data, map.size, stream)) outside++;
      gst_buffer_unmap (buf, &map);
    }
    GstMemory *mem = gst_buffer_peek_memory (buf, 0);
    GstMapInfo w;
    if (gst_memory_map (mem, &w, GST_MAP_WRITE)) {
      writable++;
      gst_memory_unmap (mem, &w);
    }
    frames++;
    if (hold && frames <= n) g_ptr_array_add (held, sample);
    else gst_sample_unref (sample);
    if (delay_ms) g_usleep ((gulong) delay_ms * 1000);
  }
  guint64 dropped = 0, copied = 0;
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_object_get (src, "dropped", &dropped, "copied", &copied, NULL);
  gst_object_unref (src);
  g_ptr_array_free (held, TRUE);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  printf ("result frames=%ld corrupt=%ld out_of_order=%ld gaps=%ld unreported=%ld discont_wrong=%ld outside_ring=%ld "
          "writable=%ld bad_size=%ld bad_pts=%ld dropped=%" G_GUINT64_FORMAT " copied=%" G_GUINT64_FORMAT " reconnects=%d\n",
          frames, corrupt, out_of_order, gaps, unreported, discont_wrong, outside, writable, bad_size, bad_pts, dropped, copied, reconnects);
  gst_object_unref (sink);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (scratch);
  g_free (desc);
  return 0;
}
