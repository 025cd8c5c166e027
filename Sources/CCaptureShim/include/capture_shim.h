/* C shims for capture, one header per concern: what Swift cannot call directly (variadic
 * calls, packed or union structs, macros with casts), atomics on shared memory, and the hot
 * loops. Swift code reaches them through CaptureSystem's wrappers; CaptureRing uses the
 * atomics and the pattern directly. */
#ifndef CAPTURE_SHIM_H
#define CAPTURE_SHIM_H
#include "capture_atomics.h"
#include "capture_events.h"
#include "capture_ioctl.h"
#include "capture_memory.h"
#include "capture_pattern.h"
#include "capture_socket.h"
#include "capture_uffd.h"
#endif
