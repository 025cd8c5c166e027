#!/usr/bin/env python3
"""Read frames from captured using nothing but docs/PROTOCOL.md and the standard library.

    python3 capture_tail.py [--socket PATH] [--mode lease|latest] STREAM N

Verifies every frame (seqlock, CRC-32) and prints `N frames, C corrupt, D dropped`.
"""
import argparse, mmap, os, socket, struct, sys, zlib

VERSION = 1
HELLO, WELCOME, FRAMES, RELEASE, DROPPED, REVOKED, ERROR, GOODBYE = 1, 2, 3, 4, 5, 6, 7, 8


def default_socket():
    if os.getuid() == 0:
        return "/run/capture/capture.sock"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR", f"/tmp/capture-{os.getuid()}"), "capture", "capture.sock")


def message(kind, body=b""):
    return struct.pack("<HHI", kind, VERSION, 8 + len(body)) + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("frames", type=int)
    ap.add_argument("--socket", default=default_socket())
    ap.add_argument("--mode", choices=["lease", "latest"], default="lease")
    args = ap.parse_args()
    mode = 1 if args.mode == "lease" else 2

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(args.socket)
    name = args.stream.encode()
    sock.send(message(HELLO, struct.pack("<BBHHH", mode, 0, 0, len(name), 0) + name))
    data, fds, _, _ = socket.recv_fds(sock, 65536, 1)
    kind, _, length = struct.unpack_from("<HHI", data)
    if kind == ERROR:
        code, = struct.unpack_from("<I", data, 8)
        sys.exit(f"refused ({code}): {data[16:].decode()}")
    assert kind == WELCOME and len(fds) == 1, "expected Welcome with the ring"
    ring_bytes, = struct.unpack_from("<Q", data, 24)
    ring = mmap.mmap(fds[0], ring_bytes, mmap.MAP_SHARED, mmap.PROT_READ)
    os.close(fds[0])
    view = memoryview(ring)  # zero-copy: slices of it read the shared pages in place

    magic, version = struct.unpack_from("<QI", ring, 0)
    assert magic == 0x31474E4952504143 and version == 1, "not a capture ring"
    slot_count, = struct.unpack_from("<I", ring, 16)
    slots_offset, slot_stride = struct.unpack_from("<QQ", ring, 32)

    frames = corrupt = dropped = 0
    last = None
    while frames < args.frames:
        data = sock.recv(65536)
        if not data:
            sys.exit("captured closed the connection")
        kind, _, length = struct.unpack_from("<HHI", data)
        if kind == FRAMES:
            count, = struct.unpack_from("<I", data, 8)
            releases = []
            for i in range(count):
                slot, _, seq = struct.unpack_from("<IIQ", data, 16 + 16 * i)
                desc = 4096 + slot * 64
                gen1, dseq, size, _ts, flags, crc = struct.unpack_from("<QQQQII", ring, desc)
                start = slots_offset + slot * slot_stride
                payload = view[start:start + size]    # no bytes are read yet
                actual = zlib.crc32(payload) if flags & 1 else crc  # reads every byte
                gen2, = struct.unpack_from("<Q", ring, desc)  # then the seqlock re-check
                if frames >= args.frames:
                    pass  # past the count asked for: only give it back
                elif gen1 % 2 or dseq != seq or gen1 != gen2:
                    if mode == 1:
                        corrupt += 1  # a leased frame must never move
                    else:
                        dropped += 1  # latest: overwritten, detected
                elif actual != crc:
                    corrupt += 1
                else:
                    if last is not None and seq <= last:
                        corrupt += 1
                    last = seq
                    frames += 1
                releases.append(struct.pack("<IIQ", slot, 0, seq))
            if mode == 1:
                sock.send(message(RELEASE, struct.pack("<II", len(releases), 0) + b"".join(releases)))
        elif kind == DROPPED:
            _first, count = struct.unpack_from("<QQ", data, 8)
            dropped += count
        elif kind in (ERROR, GOODBYE):
            code, = struct.unpack_from("<I", data, 8)
            if kind == ERROR and code == 9:
                continue  # not_leased: not fatal
            sys.exit(f"captured ended the session ({code}): {data[16:].decode()}")
    sock.send(message(GOODBYE, struct.pack("<II", 0, 0)))
    print(f"{frames} frames, {corrupt} corrupt, {dropped} dropped")
    sys.exit(1 if corrupt else 0)


if __name__ == "__main__":
    main()
