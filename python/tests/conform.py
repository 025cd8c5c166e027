"""The conformance scenarios (Tests/CaptureServiceTests/ConformanceTests.swift) for the Python
package:  conform.py SCENARIO SOCKET STREAM [N]. Prints `result key=value ...` last."""
import sys
import threading
import time

import capture


def client(socket, stream, mode, reconnect=None):
    try:
        return capture.connect(stream, mode=mode, socket=socket, reconnect=reconnect)
    except capture.Refused as e:
        print(f"result error=-1002 refused=1 message={e}")
        sys.exit(0)


def run(c, n, lease, slow=0.0, stall=0.0):
    frames = corrupt = out_of_order = gaps = dropped = overwritten = reconnected = 0
    last = reported_to = 0
    error = 0
    while frames < n:
        try:
            ev = c.next_event(10)
        except capture.Error as e:
            error = -1001 if isinstance(e, capture.DaemonGone) else -1
            print(e, file=sys.stderr)
            break
        if isinstance(ev, capture.Dropped):
            dropped += ev.count
            reported_to = max(reported_to, ev.first + ev.count - 1)
            continue
        if isinstance(ev, capture.Reconnected):
            reconnected += 1
            last = reported_to = ev.head
            continue
        if not isinstance(ev, capture.Frame):
            continue
        with ev as f:
            if slow:
                time.sleep(slow)   # give the device time to overwrite it
            check = f.check()
            if check == "overwritten" and not lease:
                overwritten += 1
            elif check != "intact":
                corrupt += 1
                print(check, file=sys.stderr)
            seq = f.sequence
            if last and seq <= last:
                out_of_order += 1
            elif lease and last and seq > last + 1 and reported_to < seq - 1:
                gaps += 1
            last = max(last, seq)
            frames += 1
        if stall and frames == 1:
            time.sleep(stall)   # off the CPU for longer than the ring lasts
    print(f"result frames={frames} corrupt={corrupt} out_of_order={out_of_order} gaps={gaps} dropped={dropped} "
          f"overwritten={overwritten} reconnected={reconnected} error={error}")
    return 1 if error else 0


def wait_for(command):
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith(command):
            return


def wakeup(socket, stream):
    """close() from another thread ends a wait for a frame that will not come soon."""
    c = client(socket, stream, "lease")
    outcome = []

    def wait():
        try:
            c.next_frame()
            outcome.append("frame")
        except capture.Error as e:
            outcome.append(str(e))

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    c.close()
    t.join(5)
    woken = 0 if t.is_alive() else int(outcome == ["the client was closed"])
    print(f"result woken={woken} of=1")
    return 0


def main():
    scenario, socket, stream = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    if scenario == "frames":
        return run(client(socket, stream, "lease"), n, True)
    if scenario == "latest":
        return run(client(socket, stream, "latest"), n, False)
    if scenario == "torn":
        return run(client(socket, stream, "latest"), n, False, slow=0.002)
    if scenario == "reconnect":
        return run(client(socket, stream, "lease", reconnect=20), n, True)
    if scenario == "stall":
        return run(client(socket, stream, "lease"), n, True, stall=0.3)
    if scenario == "wakeup":
        return wakeup(socket, stream)
    if scenario == "refused":
        client(socket, stream, "lease")
        print("result refused=0")
        return 1
    if scenario in ("hold", "gone"):
        c = client(socket, stream, "lease")
        held = [c.next_frame(timeout=10) for _ in range(min(n, 64))]
        print(f"holding {len(held)}", flush=True)
        if scenario == "gone":
            wait_for("check")   # the harness stopped the daemon meanwhile
            arrays = [f.array for f in held]
            intact = sum(1 for f in held if f.check() == "intact")
            print(f"result intact={intact} of={len(held)} readable={all(a.size > 0 for a in arrays)}")
            return 0
        print("ready", flush=True)
        for line in sys.stdin:
            if line.startswith("release"):
                c.release(held)
                held = []
                print("released", flush=True)
            if line.startswith("close"):
                c.close()
                print("closed", flush=True)
                return 0
        return 0
    print(f"conform: no scenario {scenario}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
