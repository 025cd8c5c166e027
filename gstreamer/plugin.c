/* The "capture" GStreamer plugin: capturesrc. */
#include <gst/gst.h>

#include "gstcapturesrc.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif
#define PACKAGE "capture"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return gst_element_register (plugin, "capturesrc", GST_RANK_NONE, GST_TYPE_CAPTURE_SRC);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, capture,
    "Frames from captured's shared ring, zero-copy (libcapture)",
    plugin_init, VERSION, "MIT/X11", "capture", "capture (libcapture, captured)")
