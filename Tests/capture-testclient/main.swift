// A client for the service tests that does what well-behaved clients do not:
//   capture-testclient hold SOCKET STREAM        take every lease allowed, print "holding N", never release
//   capture-testclient connect-as UID SOCKET STREAM   drop to UID/GID, connect, print what happened
//   capture-testclient forkstorm SOCKET STREAM N      map the ring, then fork N children that read it and exit
//   capture-testclient driver-errors /dev/captureN X  every kind of bad request to the driver, checked
//   capture-testclient status-flood SOCKET INFLIGHT SECONDS [noread]   StatusRequests without end
//   capture-testclient idle SOCKET N SECONDS          N connections that never say anything
//   capture-testclient inject SOCKET                  a Hello whose stream name forges a log line
//   capture-testclient tamper SOCKET STREAM SECONDS   file flags, offset and doorbell of the ring it got
//   capture-testclient verify SOCKET STREAM MODE REPORT [SECONDS]   verify every frame (Verify.swift)
//   capture-testclient garbage SOCKET SEED COUNT      connections that each send one bad thing
//   capture-testclient hog SECONDS                    burn a CPU
//   capture-testclient conform SCENARIO SOCKET STREAM [N]   the conformance scenarios (Conform.swift)
#if canImport(Glibc)
import Glibc
#endif
import CaptureClient
import CaptureProtocol

func say(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}

let args = CommandLine.arguments
guard args.count >= 3 else {
    say("usage: capture-testclient hold|connect-as ...")
    exit(2)
}

switch args[1] {
case "hold":
    do {
        let client = try CaptureClient.connect(stream: args[3], mode: .lease, socketPath: args[2])
        var held: [Frame] = []
        while held.count < Int(client.welcome.maxLeases) {
            held.append(try client.nextFrame(timeout: .seconds(10)))
        }
        say("holding \(held.count)")
        while true { sleep(60) }
    } catch {
        say("error: \(error)")
        exit(1)
    }
case "connect-as":
    guard args.count >= 5, let uid = UInt32(args[2]) else { exit(2) }
    guard setgroups(0, nil) == 0, setgid(uid) == 0, setuid(uid) == 0 else {
        say("cannot drop privileges")
        exit(2)
    }
    do {
        let client = try CaptureClient.connect(stream: args[4], mode: .lease, socketPath: args[3])
        _ = try client.nextFrame(timeout: .seconds(10))
        say("connected")
        exit(0)
    } catch {
        say("refused: \(error)")
        exit(3)
    }
case "status-flood":
    guard args.count >= 5, let n = Int(args[3]), let t = Double(args[4]) else { exit(2) }
    exit(statusFlood(socketPath: args[2], inFlight: n, seconds: t, read: args.count < 6 || args[5] != "noread"))
case "idle":
    guard args.count >= 5, let n = Int(args[3]), let t = Double(args[4]) else { exit(2) }
    exit(idleConnections(socketPath: args[2], count: n, seconds: t))
case "inject":
    exit(logInjection(socketPath: args[2]))
case "tamper":
    guard args.count >= 5, let t = Double(args[4]) else { exit(2) }
    exit(tamper(socketPath: args[2], stream: args[3], seconds: t))
case "verify":
    guard args.count >= 6 else { exit(2) }
    exit(verify(socketPath: args[2], stream: args[3], mode: args[4], reportPath: args[5], seconds: args.count > 6 ? Double(args[6]) : nil))
case "garbage":
    guard args.count >= 5, let seed = UInt64(args[3]), let n = Int(args[4]) else { exit(2) }
    exit(garbage(socketPath: args[2], seed: seed, count: n))
case "hog":
    guard let t = Double(args[2]) else { exit(2) }
    exit(hog(seconds: t))
case "conform":
    exit(conform(Array(args.dropFirst(2))))
case "driver-errors":
    exit(driverErrors(path: args[2]) == 0 ? 0 : 1)
case "forkstorm":
    // Copy-on-write and fork are what break get_user_pages-pinned anonymous buffers; the ring
    // is shared memory pinned by the driver, so children see the same frames and nothing moves.
    guard args.count >= 5, let n = Int(args[4]) else { exit(2) }
    do {
        let client = try CaptureClient.connect(stream: args[3], mode: .latest, socketPath: args[2])
        var forked = 0, bad = 0
        for _ in 0..<n {
            let frame = try client.nextFrame(timeout: .seconds(30))
            let pid = fork()
            if pid == 0 {
                // Child: read the frame through the inherited mapping; torn is fine, corrupt is not.
                if case .corrupt = frame.check() { _exit(1) }
                _exit(0)
            }
            if pid < 0 { break }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            forked += 1
            if status != 0 { bad += 1 }
        }
        say("forked \(forked), corrupt in children \(bad)")
        exit(bad == 0 ? 0 : 1)
    } catch {
        say("error: \(error)")
        exit(1)
    }
default:
    exit(2)
}
