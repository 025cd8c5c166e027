/* capturesrc: frames from captured's ring as GstBuffers, without a copy. */
#ifndef GST_CAPTURE_SRC_H
#define GST_CAPTURE_SRC_H

#include <capture/capture.h>
#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_CAPTURE_SRC (gst_capture_src_get_type ())
G_DECLARE_FINAL_TYPE (GstCaptureSrc, gst_capture_src, GST, CAPTURE_SRC, GstPushSrc)

typedef enum
{
  GST_CAPTURE_SRC_MODE_LEASE = CAPTURE_MODE_LEASE,
  GST_CAPTURE_SRC_MODE_LATEST = CAPTURE_MODE_LATEST,
} GstCaptureSrcMode;

struct _GstCaptureSrc
{
  GstPushSrc parent;

  /* properties (the object lock) */
  gchar *stream;
  gchar *socket_path;
  GstCaptureSrcMode mode;
  guint max_leases;
  guint reconnect_timeout;      /* seconds; 0: an error when the daemon goes */

  /* the streaming thread's, between start() and stop(); `client` is set and cleared under the
   * object lock, which unlock() takes to wake it */
  capture_client *client;
  capture_format format;
  GstCaps *caps;
  guint default_stride;         /* what downstream assumes without a GstVideoMeta */
  gboolean video_meta;          /* downstream takes GstVideoMeta (decide_allocation) */
  gboolean discont;             /* the next buffer follows a gap */
  gint flushing;                /* atomic: unlock() ends a wait with GST_FLOW_FLUSHING */

  GstClockTime latency;         /* reported in the LATENCY query (the object lock) */

  /* statistics (atomics: read from any thread through the properties) */
  guint64 frames, dropped, revoked, overwritten, copied, bad;
  guint64 library_overwritten;  /* libcapture's count of frames overwritten before it handed them over */
};

G_END_DECLS

#endif
