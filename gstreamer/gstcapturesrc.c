/* capturesrc: a live GstPushSrc whose buffers are captured's ring slots, through libcapture.
 *
 * Zero copy: each buffer holds one read-only GstMemory wrapping the frame's bytes in the
 * client's read-only mapping of the ring; the memory's destroy notify releases the frame, so in
 * lease mode a buffer held downstream (a queue, a sink) holds its lease, and the daemon's lease
 * limit and timeout become back-pressure and drops the pipeline sees. A frame the seqlock says
 * was overwritten before the hand-off is dropped and counted, never pushed.
 *
 * Time: PTS is the device's completion time (CLOCK_MONOTONIC) on the pipeline clock, minus the
 * base time; OFFSET is the frame sequence. A gap (reported drops, a reconnect) sets DISCONT on
 * the next buffer and posts a QoS message and a "capture-dropped" element message.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcapturesrc.h"

#include <errno.h>
#include <gst/video/video.h>
#include <string.h>
#include <time.h>

#include "gstcapturecaps.h"

GST_DEBUG_CATEGORY_STATIC (gst_capture_src_debug);
#define GST_CAT_DEFAULT gst_capture_src_debug

enum
{
  PROP_0,
  PROP_STREAM,
  PROP_SOCKET_PATH,
  PROP_MODE,
  PROP_MAX_LEASES,
  PROP_RECONNECT_TIMEOUT,
  PROP_FRAMES,
  PROP_DROPPED,
  PROP_REVOKED,
  PROP_OVERWRITTEN,
  PROP_COPIED,
  PROP_BAD,
};

#define DEFAULT_STREAM "sim0"
#define DEFAULT_MODE GST_CAPTURE_SRC_MODE_LEASE
#define DEFAULT_RECONNECT_TIMEOUT 30

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_CAPTURE_TEMPLATE_CAPS));

G_DEFINE_TYPE (GstCaptureSrc, gst_capture_src, GST_TYPE_PUSH_SRC);

#define GST_TYPE_CAPTURE_SRC_MODE (gst_capture_src_mode_get_type ())
static GType
gst_capture_src_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CAPTURE_SRC_MODE_LEASE, "Every frame, each held until its buffer is freed", "lease"},
    {GST_CAPTURE_SRC_MODE_LATEST, "The newest frame; no leases, overwrites dropped", "latest"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstCaptureSrcMode", values));
  return type;
}

static guint64
stat_get (const guint64 * counter)
{
  return __atomic_load_n (counter, __ATOMIC_RELAXED);
}

static void
stat_add (guint64 * counter, guint64 n)
{
  __atomic_fetch_add (counter, n, __ATOMIC_RELAXED);
}

/* ---- properties ----------------------------------------------------------------------- */

static void
gst_capture_src_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_STREAM:
      g_free (self->stream);
      self->stream = g_value_dup_string (value);
      break;
    case PROP_SOCKET_PATH:
      g_free (self->socket_path);
      self->socket_path = g_value_dup_string (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_MAX_LEASES:
      self->max_leases = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_TIMEOUT:
      self->reconnect_timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_capture_src_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_STREAM:
      g_value_set_string (value, self->stream);
      break;
    case PROP_SOCKET_PATH:
      g_value_set_string (value, self->socket_path);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_MAX_LEASES:
      g_value_set_uint (value, self->max_leases);
      break;
    case PROP_RECONNECT_TIMEOUT:
      g_value_set_uint (value, self->reconnect_timeout);
      break;
    case PROP_FRAMES:
      g_value_set_uint64 (value, stat_get (&self->frames));
      break;
    case PROP_DROPPED:
      g_value_set_uint64 (value, stat_get (&self->dropped));
      break;
    case PROP_REVOKED:
      g_value_set_uint64 (value, stat_get (&self->revoked));
      break;
    case PROP_OVERWRITTEN:
      /* Those libcapture found overwritten before handing them over, and those found here. */
      g_value_set_uint64 (value, stat_get (&self->overwritten) + stat_get (&self->library_overwritten));
      break;
    case PROP_COPIED:
      g_value_set_uint64 (value, stat_get (&self->copied));
      break;
    case PROP_BAD:
      g_value_set_uint64 (value, stat_get (&self->bad));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- connecting ----------------------------------------------------------------------- */

static void
set_format (GstCaptureSrc * self, const capture_format * format)
{
  GstCaps *caps = gst_capture_caps_from_format (format);
  GST_OBJECT_LOCK (self);
  self->format = *format;
  self->default_stride = gst_capture_default_stride (format);
  gst_caps_replace (&self->caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);
  GST_INFO_OBJECT (self, "stream caps %" GST_PTR_FORMAT, self->caps);
}

static gboolean
gst_capture_src_start (GstBaseSrc * src)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  capture_options o;
  capture_options_init (&o);
  GST_OBJECT_LOCK (self);
  gchar *stream = g_strdup (self->stream), *socket_path = g_strdup (self->socket_path);
  o.mode = (capture_mode) self->mode;
  o.max_leases = self->max_leases;
  o.reconnect_ms = self->reconnect_timeout * 1000;
  GST_OBJECT_UNLOCK (self);
  o.socket_path = socket_path;
  capture_client *client = NULL;
  int r = stream ? capture_connect (stream, &o, &client) : -EINVAL;
  if (r < 0) {
    char path[256];
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not receive stream \"%s\" from captured at %s: %s", stream ? stream : "(none)",
            capture_socket_path (&o, path, sizeof (path)), capture_strerror (r)), ("%s", capture_last_message ()));
    g_free (stream);
    g_free (socket_path);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->client = client;
  GST_OBJECT_UNLOCK (self);
  set_format (self, capture_stream_format (client));
  self->discont = TRUE;
  g_atomic_int_set (&self->flushing, 0);
  g_free (stream);
  g_free (socket_path);
  return TRUE;
}

/* The streaming thread has stopped. Buffers still downstream keep their frames (and the ring
 * mapped); in lease mode the daemon takes their leases back when the session closes. */
static gboolean
gst_capture_src_stop (GstBaseSrc * src)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  GST_OBJECT_LOCK (self);
  capture_client *client = self->client;
  self->client = NULL;
  GST_OBJECT_UNLOCK (self);
  if (client)
    capture_close (client);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, NULL);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static GstCaps *
gst_capture_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  GST_OBJECT_LOCK (self);
  GstCaps *caps = self->caps ? gst_caps_ref (self->caps) : gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (src));
  GST_OBJECT_UNLOCK (self);
  if (filter) {
    GstCaps *both = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = both;
  }
  return caps;
}

/* No pool: buffers are the ring's slots. What matters is whether downstream reads strides
 * from a GstVideoMeta. */
static gboolean
gst_capture_src_decide_allocation (GstBaseSrc * src, GstQuery * query)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  self->video_meta = gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

static gboolean
gst_capture_src_unlock (GstBaseSrc * src)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  g_atomic_int_set (&self->flushing, 1);
  GST_OBJECT_LOCK (self);       /* stop() clears `client` under the same lock before closing it */
  if (self->client)
    capture_wakeup (self->client);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_capture_src_unlock_stop (GstBaseSrc * src)
{
  g_atomic_int_set (&GST_CAPTURE_SRC (src)->flushing, 0);
  return TRUE;
}

/* ---- frames into buffers -------------------------------------------------------------- */

static const char *
drop_reason (uint32_t reason)
{
  switch (reason) {
    case CAPTURE_DROP_DEVICE_OVERRUN:
      return "device_overrun";
    case CAPTURE_DROP_LEASE_LIMIT:
      return "lease_limit";
    case CAPTURE_DROP_RECONNECT:
      return "reconnect";
    case CAPTURE_DROP_RECYCLED:
      return "recycled";
    case 0:
      return "bad_frame";
    default:
      return "backlog";
  }
}

/* Frames first .. first+count-1 will never come: the next buffer is DISCONT, and the
 * application hears of it on the bus. */
static void
report_drop (GstCaptureSrc * self, guint64 first, guint64 count, uint32_t reason)
{
  self->discont = TRUE;
  stat_add (&self->dropped, count);
  GST_WARNING_OBJECT (self, "frames %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " dropped: %s", first, first + count - 1,
      drop_reason (reason));
  GstMessage *qos = gst_message_new_qos (GST_OBJECT (self), TRUE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE,
      GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE);
  gst_message_set_qos_stats (qos, GST_FORMAT_BUFFERS, stat_get (&self->frames), stat_get (&self->dropped));
  gst_element_post_message (GST_ELEMENT (self), qos);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("capture-dropped", "first", G_TYPE_UINT64, first, "count", G_TYPE_UINT64, count,
              "reason", G_TYPE_STRING, drop_reason (reason), NULL)));
}

/* The device's completion time (CLOCK_MONOTONIC) as running time on the pipeline clock. */
static GstClockTime
running_time_of (GstCaptureSrc * self, guint64 monotonic_ns)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  if (!clock)
    return GST_CLOCK_TIME_NONE;
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  gint64 now_mono = (gint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
  gint64 at = (gint64) monotonic_ns + ((gint64) gst_clock_get_time (clock) - now_mono);
  gint64 base = (gint64) gst_element_get_base_time (GST_ELEMENT (self));
  gst_object_unref (clock);
  return at > base ? (GstClockTime) (at - base) : 0;
}

/* An image whose rows are not where downstream would look for them, for a downstream that
 * takes no GstVideoMeta: the one case that copies (counted in "copied"). */
static GstBuffer *
copy_rows (GstCaptureSrc * self, capture_frame * f)
{
  const capture_format *fmt = &self->format;
  gsize row = (gsize) fmt->width * fmt->bytes_per_pixel;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, (gsize) self->default_stride * fmt->height, NULL);
  GstMapInfo map;
  if (!buf || !gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    if (buf)
      gst_buffer_unref (buf);
    return NULL;
  }
  const guint8 *data = capture_frame_data (f);
  for (guint y = 0; y < fmt->height; y++)
    memcpy (map.data + (gsize) y * self->default_stride, data + (gsize) y * fmt->stride, row);
  gst_buffer_unmap (buf, &map);
  stat_add (&self->copied, 1);
  return buf;
}

/* Why a frame cannot be pushed as what its caps say, or NULL: the device reported an error
 * filling it, or it is shorter than one image of the stream's format. */
static const char *
unusable (GstCaptureSrc * self, capture_frame * f)
{
  const capture_format *fmt = &self->format;
  if (capture_frame_flags (f) & CAPTURE_FRAME_DEVICE_ERROR)
    return "the device reported an error filling it";
  if (fmt->kind == CAPTURE_FORMAT_IMAGE && fmt->height > 0 &&
      capture_frame_length (f) < (gsize) fmt->stride * (fmt->height - 1) + (gsize) fmt->width * fmt->bytes_per_pixel)
    return "it is shorter than one image of the stream's format";
  return NULL;
}

/* The frame as a buffer: its own bytes, read-only, released when the buffer goes. NULL with
 * *overwritten set when it had to be copied and was overwritten meanwhile (counted); NULL
 * otherwise when memory ran out. Takes `f`. */
static GstBuffer *
wrap (GstCaptureSrc * self, capture_frame * f, gboolean * overwritten)
{
  *overwritten = FALSE;
  const capture_format *fmt = &self->format;
  gsize n = capture_frame_length (f);
  gboolean image = fmt->kind == CAPTURE_FORMAT_IMAGE;
  GstVideoFormat vformat = image ? gst_video_format_from_string (fmt->pixel_format) : GST_VIDEO_FORMAT_UNKNOWN;
  gboolean meta = image && vformat != GST_VIDEO_FORMAT_UNKNOWN && self->video_meta;
  GstBuffer *buf;
  if (image && fmt->stride != self->default_stride && !meta) {
    buf = copy_rows (self, f);
    /* The copy is what goes downstream: it must be the frame, so the seqlock has the last word. */
    if (buf && !capture_frame_intact (f)) {
      gst_buffer_unref (buf);
      buf = NULL;
      *overwritten = TRUE;
      stat_add (&self->overwritten, 1);
    }
    capture_frame_release (f);
  } else {
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, (gpointer) capture_frame_data (f), n, 0, n,
            f, (GDestroyNotify) capture_frame_release));
    if (meta) {
      gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
      gint stride[GST_VIDEO_MAX_PLANES] = { (gint) fmt->stride };
      gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, vformat, fmt->width, fmt->height, 1, offset, stride);
    }
  }
  return buf;
}

/* Keeps the latency the pipeline was told at least the longest delay seen from the device's
 * completion to the push, and tells the pipeline when that grows. */
static void
track_latency (GstCaptureSrc * self, GstClockTime pts)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  if (!clock || !GST_CLOCK_TIME_IS_VALID (pts)) {
    if (clock)
      gst_object_unref (clock);
    return;
  }
  GstClockTime now = gst_clock_get_time (clock) - gst_element_get_base_time (GST_ELEMENT (self));
  gst_object_unref (clock);
  if (now <= pts)
    return;
  GstClockTime delay = now - pts;
  GST_OBJECT_LOCK (self);
  gboolean grew = delay > self->latency;
  if (grew)
    self->latency = MIN (delay * 2, 100 * GST_MSECOND);   /* headroom; never more than 100 ms */
  GST_OBJECT_UNLOCK (self);
  if (grew)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

/* A live source: buffers are timestamped at the device's completion, so they reach downstream
 * `latency` later at most. */
static gboolean
gst_capture_src_query (GstBaseSrc * src, GstQuery * query)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GST_OBJECT_LOCK (self);
    GstClockTime latency = self->latency;
    GST_OBJECT_UNLOCK (self);
    gst_query_set_latency (query, TRUE, latency, GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (gst_capture_src_parent_class)->query (src, query);
}

static GstFlowReturn
gst_capture_src_create (GstPushSrc * src, GstBuffer ** out)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (src);
  for (;;) {
    capture_event ev;
    int r = capture_next_event (self->client, -1, &ev);
    if (r == -EINTR)
      continue;
    if (r == -CAPTURE_EWOKEN) {
      if (g_atomic_int_get (&self->flushing))
        return GST_FLOW_FLUSHING;
      continue;                 /* a wake-up meant for an earlier wait */
    }
    if (r < 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("captured: %s", capture_strerror (r)), ("%s", capture_last_message ()));
      return GST_FLOW_ERROR;
    }
    switch (ev.type) {
      case CAPTURE_EVENT_DROPPED:
        report_drop (self, ev.first_sequence, ev.count, ev.reason);
        continue;
      case CAPTURE_EVENT_REVOKED:
        /* Its buffer is downstream already and was intact when it left; the slot may be
         * refilled now. Held longer than the daemon's lease_timeout_ms. */
        stat_add (&self->revoked, 1);
        GST_ELEMENT_WARNING (self, RESOURCE, READ, ("The lease on frame %" G_GUINT64_FORMAT " was revoked", ev.sequence),
            ("a buffer was held downstream longer than captured's lease_timeout_ms; its memory may be rewritten"));
        continue;
      case CAPTURE_EVENT_NOTICE:
        GST_INFO_OBJECT (self, "captured: %s", ev.text ? ev.text : "");
        continue;
      case CAPTURE_EVENT_RECONNECTED:
        GST_ELEMENT_WARNING (self, RESOURCE, READ, ("captured restarted; capturesrc reconnected"), (NULL));
        self->discont = TRUE;
        if (memcmp (&self->format, capture_stream_format (self->client), sizeof (capture_format)) != 0) {
          set_format (self, capture_stream_format (self->client));
          if (!gst_base_src_negotiate (GST_BASE_SRC (self))) {
            GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("captured restarted with another format, which downstream refuses"),
                ("new caps %" GST_PTR_FORMAT, self->caps));
            return GST_FLOW_NOT_NEGOTIATED;
          }
        }
        continue;
      case CAPTURE_EVENT_FRAME:
        break;
    }
    capture_frame *f = ev.frame;
    if (!capture_frame_intact (f)) {   /* latest mode: rewritten before we got here */
      stat_add (&self->overwritten, 1);
      capture_frame_release (f);
      continue;
    }
    const char *why = unusable (self, f);
    if (why) {                          /* never pushed as a good frame: dropped, counted, a gap */
      GST_WARNING_OBJECT (self, "frame %" G_GUINT64_FORMAT " dropped: %s", capture_frame_sequence (f), why);
      stat_add (&self->bad, 1);
      report_drop (self, capture_frame_sequence (f), 1, 0);
      capture_frame_release (f);
      continue;
    }
    guint64 sequence = capture_frame_sequence (f), timestamp = capture_frame_timestamp_ns (f);
    gboolean overwritten;
    GstBuffer *buf = wrap (self, f, &overwritten);
    if (!buf) {
      if (overwritten)
        continue;                       /* rewritten while copied: never pushed */
      GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Out of memory"), (NULL));
      return GST_FLOW_ERROR;
    }
    GST_BUFFER_OFFSET (buf) = sequence;
    GST_BUFFER_OFFSET_END (buf) = sequence + 1;
    GST_BUFFER_PTS (buf) = running_time_of (self, timestamp);
    track_latency (self, GST_BUFFER_PTS (buf));
    if (self->discont) {
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      self->discont = FALSE;
    }
    capture_statistics st;
    capture_statistics_get (self->client, &st);
    if (st.overwritten > stat_get (&self->library_overwritten)) {   /* announced, lost before we looked */
      __atomic_store_n (&self->library_overwritten, st.overwritten, __ATOMIC_RELAXED);
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    }
    stat_add (&self->frames, 1);
    *out = buf;
    return GST_FLOW_OK;
  }
}

/* ---- the type ------------------------------------------------------------------------- */

static void
gst_capture_src_finalize (GObject * object)
{
  GstCaptureSrc *self = GST_CAPTURE_SRC (object);
  g_free (self->stream);
  g_free (self->socket_path);
  gst_caps_replace (&self->caps, NULL);
  G_OBJECT_CLASS (gst_capture_src_parent_class)->finalize (object);
}

static void
gst_capture_src_class_init (GstCaptureSrcClass * klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_capture_src_debug, "capturesrc", 0, "captured ring source");

  object_class->set_property = gst_capture_src_set_property;
  object_class->get_property = gst_capture_src_get_property;
  object_class->finalize = gst_capture_src_finalize;

  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
  g_object_class_install_property (object_class, PROP_STREAM,
      g_param_spec_string ("stream", "Stream", "The stream to receive, as named in capture.toml", DEFAULT_STREAM, rw));
  g_object_class_install_property (object_class, PROP_SOCKET_PATH,
      g_param_spec_string ("socket-path", "Socket path",
          "captured's socket (default: $CAPTURE_SOCKET, else /run/capture/capture.sock for root, "
          "else $XDG_RUNTIME_DIR/capture/capture.sock)", NULL, rw));
  g_object_class_install_property (object_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "lease: every frame, its lease held until its buffer is freed (downstream queues hold leases); "
          "latest: the newest frame, no leases (a frame overwritten before it is pushed is dropped)",
          GST_TYPE_CAPTURE_SRC_MODE, DEFAULT_MODE, rw));
  g_object_class_install_property (object_class, PROP_MAX_LEASES,
      g_param_spec_uint ("max-leases", "Max leases",
          "Lease mode: buffers that may be alive downstream at once (0: the stream's max_leases); beyond them "
          "frames are dropped and reported", 0, 65535, 0, rw));
  g_object_class_install_property (object_class, PROP_RECONNECT_TIMEOUT,
      g_param_spec_uint ("reconnect-timeout", "Reconnect timeout",
          "Seconds to keep reconnecting when captured restarts (the gap is marked DISCONT); 0: fail at once",
          0, G_MAXUINT / 1000, DEFAULT_RECONNECT_TIMEOUT, rw));
  g_object_class_install_property (object_class, PROP_FRAMES,
      g_param_spec_uint64 ("frames", "Frames", "Buffers pushed", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (object_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped", "Frames captured reported dropped for this element", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (object_class, PROP_REVOKED,
      g_param_spec_uint64 ("revoked", "Revoked", "Leases revoked because a buffer was held past lease_timeout_ms",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (object_class, PROP_OVERWRITTEN,
      g_param_spec_uint64 ("overwritten", "Overwritten", "Latest mode: frames overwritten before they could be pushed (not pushed)",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (object_class, PROP_COPIED,
      g_param_spec_uint64 ("copied", "Copied",
          "Frames copied because their row stride differs from GStreamer's and downstream takes no GstVideoMeta",
          0, G_MAXUINT64, 0, ro));

  g_object_class_install_property (object_class, PROP_BAD,
      g_param_spec_uint64 ("bad", "Bad", "Frames not pushed because the device reported an error filling them or they were too short "
          "for the format (each a gap, reported as a drop)", 0, G_MAXUINT64, 0, ro));

  gst_element_class_set_static_metadata (element_class, "captured ring source", "Source/Video",
      "Frames from captured's shared ring, zero-copy: each buffer is a read-only slot of the ring",
      "The capture developers");
  gst_element_class_add_static_pad_template (element_class, &src_template);

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_capture_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_capture_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_capture_src_get_caps);
  basesrc_class->decide_allocation = GST_DEBUG_FUNCPTR (gst_capture_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_capture_src_query);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_capture_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_capture_src_unlock_stop);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_capture_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_CAPTURE_SRC_MODE, 0);
}

static void
gst_capture_src_init (GstCaptureSrc * self)
{
  self->stream = g_strdup (DEFAULT_STREAM);
  self->mode = DEFAULT_MODE;
  self->reconnect_timeout = DEFAULT_RECONNECT_TIMEOUT;
  self->latency = GST_MSECOND;
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
