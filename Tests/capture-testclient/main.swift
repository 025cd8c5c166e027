// A client for the service tests that does what well-behaved clients do not:
//   capture-testclient hold SOCKET STREAM        take every lease allowed, print "holding N", never release
//   capture-testclient connect-as UID SOCKET STREAM   drop to UID/GID, connect, print what happened
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
guard args.count >= 4 else {
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
default:
    exit(2)
}
