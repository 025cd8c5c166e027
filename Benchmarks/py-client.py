"""The benchmark's Python client: the `capture` package as a scientist would use it, printing
the JSON line `capture-bench client` prints.
    py-client.py --socket PATH [--stream bench] [--mode lease|latest] --opens NS --closes NS [--mean]
--mean computes frame.array.mean() of every frame (NumPy, zero-copy); otherwise it reads the
8-byte sequence stamp, as the C and Swift benchmark clients do."""
import argparse
import json
import time

import capture

ap = argparse.ArgumentParser()
ap.add_argument("--socket", required=True)
ap.add_argument("--stream", default="bench")
ap.add_argument("--mode", default="lease")
ap.add_argument("--opens", type=int, required=True)
ap.add_argument("--closes", type=int, required=True)
ap.add_argument("--mean", action="store_true")
args = ap.parse_args()

client = capture.connect(args.stream, mode=args.mode, socket=args.socket)
frames = nbytes = overwritten = corrupt = batches = 0
opened = False
at_open = None
cpu_open = 0.0
means = 0.0
while True:
    batch = client.next_frames(10)
    now = time.monotonic_ns()
    if now >= args.closes:
        client.release(batch)
        break
    if not opened and now >= args.opens:
        opened = True
        at_open = client.statistics
        cpu_open = time.thread_time()
    batches += opened
    for f in batch:
        if args.mean:
            with f:   # as a scientist writes it: the lease goes back after each frame
                means += float(f.array.mean())
                intact = f.intact
            good = True
        else:
            good = int.from_bytes(f.memoryview[:8], "little") == f.sequence
            intact = f.intact
        if not intact:
            overwritten += 1
        elif opened:
            corrupt += not good
            frames += 1
            nbytes += f.length
    if not args.mean:
        client.release(batch)
end = client.statistics
client.close()
print(json.dumps({
    "frames": frames, "bytes": nbytes,
    "seconds": (args.closes - args.opens) / 1e9 if opened else 0,
    "dropped": end["dropped"] - at_open["dropped"] if opened else 0,
    "overwritten": overwritten, "corrupt": corrupt,
    "cpuSeconds": time.thread_time() - cpu_open if opened else 0, "batches": batches,
}))
