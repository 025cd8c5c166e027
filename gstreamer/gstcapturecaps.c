/* Caps for a stream's frame format. The pixel format names are GStreamer's own (capture.toml
 * takes them as they are), so images map one to one. */
#include "gstcapturecaps.h"

#include <string.h>

static gboolean
is_bayer (const char *name)
{
  return g_ascii_islower (name[0]);     /* bggr, rggb, ..., bggr16le: GStreamer's lower-case names */
}

GstCaps *
gst_capture_caps_from_format (const capture_format * f)
{
  if (f->kind == CAPTURE_FORMAT_IMAGE) {
    return gst_caps_new_simple (is_bayer (f->pixel_format) ? "video/x-bayer" : "video/x-raw",
        "format", G_TYPE_STRING, f->pixel_format,
        "width", G_TYPE_INT, (gint) f->width, "height", G_TYPE_INT, (gint) f->height,
        "framerate", GST_TYPE_FRACTION, 0, 1, NULL);
  }
  if (f->kind == CAPTURE_FORMAT_SAMPLES) {
    GString *shape = g_string_new (NULL);
    for (guint i = 0; i < f->ndim && i < 4; i++)
      g_string_append_printf (shape, "%s%" G_GUINT64_FORMAT, i ? "," : "", f->shape[i]);
    GstCaps *caps = gst_caps_new_simple ("application/x-capture-samples",
        "dtype", G_TYPE_STRING, f->dtype, "shape", G_TYPE_STRING, shape->str, NULL);
    g_string_free (shape, TRUE);
    return caps;
  }
  return gst_caps_new_empty_simple ("application/octet-stream");
}

guint
gst_capture_default_stride (const capture_format * f)
{
  if (f->kind != CAPTURE_FORMAT_IMAGE)
    return 0;
  return GST_ROUND_UP_4 (f->width * f->bytes_per_pixel);       /* video/x-raw and bayer2rgb alike */
}
