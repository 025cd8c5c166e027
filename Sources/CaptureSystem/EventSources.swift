#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// epoll(7): the daemon's readiness source. Each registration carries a 64-bit token.
public final class Epoll {
    public let fd: FileDescriptor

    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: CAPTURE_EPOLLIN)
        public static let writable = Events(rawValue: CAPTURE_EPOLLOUT)
        public static let hangup = Events(rawValue: CAPTURE_EPOLLHUP)
        public static let error = Events(rawValue: CAPTURE_EPOLLERR)
        public static let peerClosed = Events(rawValue: CAPTURE_EPOLLRDHUP)
    }

    /// epoll_create1(EPOLL_CLOEXEC).
    public init() throws {
        let raw = capture_epoll_create()
        if raw < 0 { throw SystemError("epoll_create1") }
        fd = FileDescriptor(owning: raw)
    }

    /// epoll_ctl(EPOLL_CTL_ADD). The caller keeps owning `target`; remove it before closing it.
    public func add(_ target: FileDescriptor, events: Events, token: UInt64) throws {
        if capture_epoll_ctl(fd.raw, CAPTURE_EPOLL_CTL_ADD, target.raw, events.rawValue, token) != 0 { throw SystemError("epoll_ctl(ADD, \(target))") }
    }

    /// epoll_ctl(EPOLL_CTL_MOD).
    public func modify(_ target: FileDescriptor, events: Events, token: UInt64) throws {
        if capture_epoll_ctl(fd.raw, CAPTURE_EPOLL_CTL_MOD, target.raw, events.rawValue, token) != 0 { throw SystemError("epoll_ctl(MOD, \(target))") }
    }

    /// epoll_ctl(EPOLL_CTL_DEL); a descriptor already closed is not an error.
    public func remove(_ target: FileDescriptor) {
        _ = capture_epoll_ctl(fd.raw, CAPTURE_EPOLL_CTL_DEL, target.raw, 0, 0)
    }

    /// epoll_wait(2): up to 64 (token, events) pairs.
    public func wait(timeoutMilliseconds: Int32) throws -> [(token: UInt64, events: Events)] {
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        let n = capture_epoll_wait(fd.raw, &tokens, &events, 64, timeoutMilliseconds)
        if n < 0 {
            if errno == EINTR { return [] }
            throw SystemError("epoll_wait")
        }
        return (0..<Int(n)).map { (tokens[$0], Events(rawValue: events[$0])) }
    }
}

/// eventfd(2): a counter another thread can wake us with.
public final class EventCounter: Sendable {
    public let fd: FileDescriptor

    /// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
    public init() throws {
        let raw = capture_eventfd()
        if raw < 0 { throw SystemError("eventfd") }
        fd = FileDescriptor(owning: raw)
    }

    /// An eventfd made elsewhere (received by SCM_RIGHTS); this counter owns it from now on.
    public init(owning fd: FileDescriptor) {
        self.fd = fd
    }

    /// write(2) of 1.
    public func signal() { Self.signal(fd.raw) }

    /// write(2) of 1 to an eventfd this code does not own (a doorbell a device rings).
    public static func signal(_ raw: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(raw, $0.baseAddress, 8) }
    }

    /// read(2): resets the counter, returns what it held (0 when nothing was signalled).
    @discardableResult
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { Glibc.read(fd.raw, $0.baseAddress, 8) }
        return n == 8 ? value : 0
    }

    /// ppoll(2) until signalled or `timeoutNanoseconds` pass (negative: forever).
    public func wait(timeoutNanoseconds: Int64) -> Bool {
        Poll.readable(fd, timeoutNanoseconds: timeoutNanoseconds)
    }
}

/// timerfd(2) that fires once, at a CLOCK_MONOTONIC time set in advance, and a thread that
/// blocks in read(2) until it does. A thread that must sleep right after it wakes another arms
/// its next deadline before, so nothing is set up (a timer programmed: a VM exit on a virtual
/// machine; a poll table) while the woken thread waits for its CPU.
public final class DeadlineTimer: Sendable {
    public let fd: FileDescriptor

    /// timerfd_create(CLOCK_MONOTONIC), blocking reads.
    public init() throws {
        let raw = capture_timerfd_oneshot()
        if raw < 0 { throw SystemError("timerfd_create") }
        fd = FileDescriptor(owning: raw)
    }

    /// timerfd_settime(TFD_TIMER_ABSTIME); a deadline already past fires at once. Resets a
    /// firing not yet waited for.
    public func arm(at deadline: UInt64) {
        // Fails only for a bad descriptor or time; fire at once then, so no wait is endless.
        if capture_timerfd_arm_at(fd.raw, max(deadline, 1)) != 0 { _ = capture_timerfd_arm_at(fd.raw, 1) }
    }

    /// From another thread: ends the current or next wait().
    public func fireNow() { arm(at: 1) }

    /// read(2) of the expiry count: blocks until the deadline passes.
    public func wait() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(fd.raw, $0.baseAddress, 8) }
    }
}

/// timerfd(2) that fires periodically.
public final class PeriodicTimer {
    public let fd: FileDescriptor

    /// timerfd_create(CLOCK_MONOTONIC) + timerfd_settime.
    public init(intervalNanoseconds: UInt64) throws {
        let raw = capture_timerfd_periodic(intervalNanoseconds)
        if raw < 0 { throw SystemError("timerfd_create/timerfd_settime") }
        fd = FileDescriptor(owning: raw)
    }

    /// read(2) of the expiry count.
    public func acknowledge() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(fd.raw, $0.baseAddress, 8) }
    }
}

/// signalfd(2) for SIGINT, SIGTERM and SIGHUP (blocked for the whole process; SIGPIPE ignored).
public final class TerminationSignals {
    public let fd: FileDescriptor

    public init() throws {
        let raw = capture_signalfd_terminate()
        if raw < 0 { throw SystemError("signalfd") }
        fd = FileDescriptor(owning: raw)
    }

    /// read(2) one signal number, nil when none is pending.
    public func next() -> Int32? {
        let s = capture_signalfd_read(fd.raw)
        return s < 0 ? nil : s
    }
}
