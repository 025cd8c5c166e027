"""Recordings made by ``capturectl record`` (docs/RECORDING.md), as NumPy arrays.

    rec = capture.Recording("/tmp/x")
    len(rec), rec.format                 # frames, what they hold
    rec[0]                               # frame 0: a read-only array mapped from the file, no copy
    rec.frames                           # every frame as one (N, ...) array, when they are evenly spaced
    rec.index                            # sequence, timestamp_ns, offset, length, checksum per frame
    rec.drops                            # frames the recording does not have, and why
    rec.verify()                         # sequences whose bytes do not match their CRC-32
    rec.to_hdf5("x.h5")                  # frames, index and format for h5py, HDF5 tools, MATLAB

Only the frames the index describes are read: a recording cut off by SIGKILL, a crash or a
full disk is read up to its last complete frame. Needs NumPy (h5py for ``to_hdf5``).
"""
import json
import os
import zlib

ALIGNMENT = 4096
RECORD_BYTES = 64
MAGIC = b"CAPIDX01"
KIND_FRAME, KIND_DROP, KIND_END = 1, 2, 3
END_REASONS = {1: "finished", 2: "disk full", 3: "failed"}
DROP_REASONS = {1: "device_overrun", 2: "lease_limit", 3: "backlog", 4: "reconnect", 5: "recycled", 16: "not_written"}


def _numpy():
    try:
        import numpy
    except ImportError as e:
        raise ImportError("capture.Recording needs NumPy (pip install numpy)") from e
    return numpy


def _record_dtype(np):
    return np.dtype([("kind", "<u4"), ("flags", "<u4"), ("sequence", "<u8"), ("timestamp_ns", "<u8"),
                     ("offset", "<u8"), ("length", "<u8"), ("checksum", "<u4"), ("record_crc", "<u4"),
                     ("realtime_ns", "<u8"), ("reserved", "<u8")])


class Recording:
    """A recording directory: ``recording.json``, ``frames`` and ``index``."""

    def __init__(self, path):
        np = _numpy()
        self.path = os.fspath(path)
        with open(os.path.join(self.path, "recording.json")) as f:
            self.info = json.load(f)
        if self.info.get("version") != 1 or self.info.get("alignment") != ALIGNMENT:
            raise ValueError(f"{self.path}: not a version 1 recording")
        raw = np.fromfile(os.path.join(self.path, "index"), dtype=np.uint8)
        if raw[:8].tobytes() != MAGIC:
            raise ValueError(f"{self.path}: the index does not start with {MAGIC!r}")
        count = (raw.size - RECORD_BYTES) // RECORD_BYTES
        body = raw[RECORD_BYTES:RECORD_BYTES + count * RECORD_BYTES]
        records = body.view(_record_dtype(np))
        # Stop at the first torn or foreign record (its CRC-32 over bytes 0..43 is wrong).
        rows = body.reshape(count, RECORD_BYTES)
        good = count
        for i in range(count):
            if zlib.crc32(rows[i, :44].tobytes()) != int(records["record_crc"][i]) or records["kind"][i] not in (1, 2, 3):
                good = i
                break
        records = records[:good]
        ends = records[records["kind"] == KIND_END]
        if ends.size:
            records = records[:np.nonzero(records["kind"] == KIND_END)[0][0]]
        size = os.path.getsize(os.path.join(self.path, "frames"))
        frames = records[records["kind"] == KIND_FRAME]
        frames = frames[(frames["offset"] + frames["length"] <= size) & (frames["length"] <= self.info["frame_bytes"])]
        self.index = frames[["sequence", "timestamp_ns", "offset", "length", "checksum", "flags"]]
        drops = records[records["kind"] == KIND_DROP]
        self.drops = [(int(d["sequence"]), int(d["offset"]), DROP_REASONS.get(int(d["flags"]), str(int(d["flags"])))) for d in drops]
        self.ended = END_REASONS.get(int(ends["flags"][0]), "?") if ends.size else None
        self._data = np.memmap(os.path.join(self.path, "frames"), dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)

    @property
    def format(self):
        """What each frame holds: ``kind`` image (pixel_format, width, height, stride), samples
        (dtype, shape) or opaque."""
        return self.info["format"]

    def _layout(self):
        """(dtype, shape, strides) of one frame, for the stream's format."""
        np = _numpy()
        f = self.format
        if f["kind"] == "image":
            from ._capture import pixel_formats
            bpp, channels, dtype = pixel_formats()[f["pixel_format"]]
            item = np.dtype(dtype).itemsize
            if channels == 1:
                return np.dtype(dtype), (f["height"], f["width"]), (f["stride"], bpp)
            return np.dtype(dtype), (f["height"], f["width"], channels), (f["stride"], bpp, item)
        if f["kind"] == "samples":
            dtype = np.dtype(f["dtype"])
            shape = tuple(f["shape"])
            strides, step = [], dtype.itemsize
            for n in reversed(shape):
                strides.insert(0, step)
                step *= n
            return dtype, shape, tuple(strides)
        return np.dtype("|u1"), None, None

    def __len__(self):
        return int(self.index.size)

    def __getitem__(self, i):
        """Frame ``i`` as a read-only array over the file's pages (no copy)."""
        np = _numpy()
        r = self.index[i]
        offset, length = int(r["offset"]), int(r["length"])
        dtype, shape, strides = self._layout()
        if shape is None:
            return self._data[offset:offset + length]
        extent = sum((n - 1) * s for n, s in zip(shape, strides)) + dtype.itemsize
        if length < extent:
            raise ValueError(f"frame {int(r['sequence'])} is {length} bytes, shorter than one frame of the format ({extent})")
        return np.ndarray(shape, dtype=dtype, buffer=self._data, offset=offset, strides=strides)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def frames(self):
        """Every frame as one (N, ...) read-only array over the file, when frames are evenly
        spaced in it (every frame the same size: a recording without gaps in its writes)."""
        np = _numpy()
        n = len(self)
        dtype, shape, strides = self._layout()
        offsets = self.index["offset"].astype(np.int64)
        step = int(offsets[1] - offsets[0]) if n > 1 else ALIGNMENT
        if shape is None:
            raise ValueError("the stream's frames are opaque bytes (no format): take them one by one (rec[i])")
        if n == 0:
            return np.zeros((0,) + shape, dtype=dtype)
        if n > 1 and not np.all(np.diff(offsets) == step):
            raise ValueError("frames are not evenly spaced in the file (some were not written): take them one by one (rec[i])")
        return np.ndarray((n,) + shape, dtype=dtype, buffer=self._data, offset=int(offsets[0]), strides=(step,) + strides)

    def verify(self):
        """Sequences of the frames whose bytes do not match their recorded CRC-32."""
        bad = []
        for r in self.index:
            if int(r["flags"]) & 1:
                o, n = int(r["offset"]), int(r["length"])
                if zlib.crc32(self._data[o:o + n]) != int(r["checksum"]):
                    bad.append(int(r["sequence"]))
        return bad

    def to_hdf5(self, path, dataset="frames"):
        """Writes the frames (one chunk per frame), the index and the format to an HDF5 file."""
        try:
            import h5py
        except ImportError as e:
            raise ImportError("Recording.to_hdf5 needs h5py (pip install h5py)") from e
        np = _numpy()
        dtype, shape, _ = self._layout()
        frame_shape = shape if shape is not None else (int(self.info["frame_bytes"]),)
        with h5py.File(path, "w") as h:
            d = h.create_dataset(dataset, shape=(len(self),) + frame_shape, dtype=dtype,
                                 chunks=(1,) + frame_shape if len(self) else None)
            for i in range(len(self)):
                frame = self[i]
                if shape is None:
                    d[i, :frame.size] = frame
                else:
                    d[i] = frame
            for name in ("sequence", "timestamp_ns", "length", "checksum"):
                h.create_dataset(name, data=np.ascontiguousarray(self.index[name]))
            d.attrs["stream"] = self.info["stream"]
            d.attrs["format"] = json.dumps(self.info["format"])
            d.attrs["started"] = self.info["started"]
            h.create_dataset("drops", data=np.array([(a, b) for a, b, _ in self.drops], dtype="<u8").reshape(-1, 2))
        return path

    def __repr__(self):
        return f"<capture.Recording {self.path}: {len(self)} frames of {self.info['stream']}, {len(self.drops)} drop report(s), ended: {self.ended or 'cut off'}>"
