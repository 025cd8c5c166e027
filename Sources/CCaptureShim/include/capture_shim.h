/* C shims for capture, one header per concern: what Swift cannot call directly (variadic
 * calls, packed or union structs, macros with casts) and atomics on shared memory. Swift code
 * reaches them through CaptureSystem's wrappers; CaptureRing uses the atomics directly. The
 * payloads and the checksum are libcapture's (libcapture/payload, CCapturePayload). */
#ifndef CAPTURE_SHIM_H
#define CAPTURE_SHIM_H
#include "capture_atomics.h"
#include "capture_events.h"
#include "capture_file.h"
#include "capture_ioctl.h"
#include "capture_layout.h"
#include "capture_memory.h"
#include "capture_socket.h"
#include "capture_uffd.h"
#endif
