/* Error codes and this thread's last message. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last[512];

int fail(int error, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(last, sizeof(last), format, ap);
    va_end(ap);
    return error;
}

API const char *capture_last_message(void) { return last; }

API const char *capture_strerror(int error) {
    switch (-error) {
    case 0: return "success";
    case CAPTURE_EDAEMON_GONE: return "captured went away (stopped, restarted or crashed)";
    case CAPTURE_EREFUSED: return "captured refused the request";
    case CAPTURE_EDETACHED: return "the stream's device went away";
    case CAPTURE_EPROTOCOL: return "captured sent something this library does not understand";
    case CAPTURE_ETIMEDOUT: return "nothing arrived within the timeout";
    case CAPTURE_EOVERWRITTEN: return "the frame was overwritten while it was read";
    case CAPTURE_ECORRUPT: return "the frame's bytes are not what was published";
    case CAPTURE_EMODE: return "not possible in this mode";
    case CAPTURE_EWOKEN: return "capture_wakeup() ended the wait";
    default: return error < 0 && -error < 1000 ? strerror(-error) : "unknown error";
    }
}
