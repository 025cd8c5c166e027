"""Frames from captured in Python, zero-copy (built on libcapture: docs/PROTOCOL.md).

    import capture
    with capture.connect("sim0") as client:            # lease mode, the default socket
        with client.next_frame(timeout=5) as frame:    # released on exit
            print(frame.sequence, frame.array.mean())  # a read-only NumPy view of the ring

A frame's ``memoryview`` and ``array`` are the ring's own memory, read-only; they stay valid
as long as they live, even after the frame is released or the daemon is gone. After release
(in latest mode always) the slot may be refilled: ``frame.intact`` says whether what you read
is still the frame.
"""
__version__ = "0.1.0"

import asyncio
import json

from ._capture import DaemonGone, Detached, Error, Frame, ProtocolError, Refused, Timeout
from ._capture import Client as _Client
from ._capture import socket_path, status_json
from .recording import Recording

__all__ = ["connect", "Client", "Frame", "Recording", "status", "socket_path", "Error", "DaemonGone", "Refused", "Detached",
           "ProtocolError", "Timeout", "Dropped", "Revoked", "Notice", "Reconnected"]

DROP_REASONS = {1: "device_overrun", 2: "lease_limit", 3: "backlog", 4: "reconnect", 5: "recycled"}


class Dropped(tuple):
    """Frames ``first`` .. ``first + count - 1`` will never come; ``reason`` says why."""
    first = property(lambda self: self[0])
    count = property(lambda self: self[1])
    reason = property(lambda self: self[2])


class Revoked(tuple):
    """The lease on frame ``sequence`` (in ``slot``) was taken back after the lease timeout."""
    sequence = property(lambda self: self[0])
    slot = property(lambda self: self[1])


class Notice(tuple):
    """A non-fatal error from the daemon (releasing a frame that was not leased)."""
    code = property(lambda self: self[0])
    text = property(lambda self: self[1])


class Reconnected(tuple):
    """A new session after a daemon restart; ``head`` is its newest frame then."""
    head = property(lambda self: self[0])


def _event(raw):
    if isinstance(raw, Frame):
        return raw
    kind, *fields = raw
    if kind == "dropped":
        return Dropped((fields[0], fields[1], DROP_REASONS.get(fields[2], str(fields[2]))))
    if kind == "revoked":
        return Revoked(fields)
    if kind == "notice":
        return Notice(fields)
    return Reconnected(fields)


class Client(_Client):
    """A connection to captured for one stream.

    ``Client(stream, mode="lease"|"latest", max_leases=0, socket=None, reconnect_ms=0,
    doorbell=True)``. Iterating yields frames (release each, or use ``with``); ``next_event``
    also yields ``Dropped``, ``Revoked``, ``Notice`` and ``Reconnected``. ``fileno()`` and
    ``dispatch()`` fit it into a select/selectors/asyncio loop; ``frames_async()`` does that
    for asyncio.
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        while True:
            yield self.next_frame()

    def next_event(self, timeout=None):
        return _event(super().next_event(timeout=timeout))

    def release(self, frames):
        """Give back a batch of frames in one message (lease mode)."""
        self.release_frames(list(frames))

    async def next_frame_async(self):
        """The next frame, awaiting the client's descriptor on the running loop."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return self.next_frame(0)
            except Timeout:
                pass
            ready = loop.create_future()
            loop.add_reader(self.fileno(), lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(self.fileno())
            self.dispatch()

    async def frames_async(self):
        """``async for frame in client.frames_async():`` (release each, or use ``with``)."""
        while True:
            yield await self.next_frame_async()


def connect(stream, mode="lease", max_leases=0, socket=None, reconnect=None, doorbell=True):
    """Connects to captured and maps ``stream``'s ring read-only. ``reconnect``: seconds to keep
    trying when the daemon restarts (None: do not). ``socket``: default $CAPTURE_SOCKET, else
    /run/capture/capture.sock (root) or $XDG_RUNTIME_DIR/capture/capture.sock."""
    return Client(stream, mode=mode, max_leases=max_leases, socket=socket,
                  reconnect_ms=int((reconnect or 0) * 1000), doorbell=doorbell)


def status(socket=None):
    """The daemon's status document (docs/PROTOCOL.md §3.9) as a dict."""
    return json.loads(status_json(socket))
