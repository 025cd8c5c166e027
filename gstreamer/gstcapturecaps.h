/* Caps for a stream's frame format (libcapture's capture_format). */
#ifndef GST_CAPTURE_CAPS_H
#define GST_CAPTURE_CAPS_H

#include <capture/capture.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* What capturesrc can produce before it knows the stream. */
#define GST_CAPTURE_TEMPLATE_CAPS                                                                  \
  "video/x-raw, format=(string){ GRAY8, GRAY16_LE, GRAY16_BE, RGB, BGR, RGBx, BGRx, xRGB, xBGR, "  \
  "RGBA, BGRA, ARGB, ABGR }, width=(int)[1, MAX], height=(int)[1, MAX], framerate=(fraction)[0/1, MAX]; " \
  "video/x-bayer, format=(string){ bggr, rggb, grbg, gbrg, bggr16le, rggb16le, grbg16le, gbrg16le }, "      \
  "width=(int)[1, MAX], height=(int)[1, MAX], framerate=(fraction)[0/1, MAX]; "                      \
  "application/x-capture-samples; application/octet-stream"

/* The fixed caps of frames in `format`: video/x-raw or video/x-bayer for images (variable
 * frame rate: 0/1), application/x-capture-samples with dtype and shape for sample data,
 * application/octet-stream for opaque frames. */
GstCaps *gst_capture_caps_from_format (const capture_format * format);

/* The row stride GStreamer assumes for an image of this format without a GstVideoMeta
 * (rows padded to 4 bytes), or 0 for frames that are not images. */
guint gst_capture_default_stride (const capture_format * format);

G_END_DECLS

#endif
