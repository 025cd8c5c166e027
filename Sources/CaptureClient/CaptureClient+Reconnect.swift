import CaptureProtocol
import Foundation

extension CaptureClient {
    /// Connects again with backoff (50 ms doubling to 1 s). The frames published since the last
    /// one this client saw and before the new session began are reported as one drop.
    func reconnect(after old: Connection, within limit: Duration, because why: String) throws {
        let deadline = ContinuousClock.now + limit
        var delay = Duration.milliseconds(50)
        let hello = Self.hello(stream: stream, mode: mode, maxLeases: maxLeases, doorbell: wantsDoorbell)
        while ContinuousClock.now < deadline {
            if closed.load(ordering: .acquiring) { throw CaptureClientError.daemonGone(why) }
            if let fresh = try? Connection.open(socketPath: socketPath, hello: hello, generation: old.generation + 1) {
                let head = fresh.welcome.headSequence
                state.withLock { s in
                    s.connection = fresh
                    s.holds = SelfServeHolds() // a new session has its own holds page
                    s.newestTaken = head
                    s.statistics.reconnects += 1
                    let lastSeen = s.statistics.lastSequence
                    if lastSeen > 0 && head > lastSeen {
                        s.statistics.dropped += head - lastSeen
                        s.inbox.append(.dropped(Dropped(firstSequence: lastSeen + 1, count: head - lastSeen, reason: .reconnect,
                                                        clientTotal: s.statistics.dropped)))
                    }
                    // A daemon that made a new ring (synthetic streams) numbers frames from 1 again.
                    s.statistics.lastSequence = head
                    s.inbox.append(.reconnected(headSequence: head))
                }
                old.close() // the old mapping lives on in the frames that hold it
                return
            }
            Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) / 1e18 + Double(delay.components.seconds))
            delay = min(delay * 2, .seconds(1))
        }
        throw CaptureClientError.daemonGone("\(why); no daemon answered within \(limit)")
    }
}
