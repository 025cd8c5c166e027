#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, the errno, and what the user can do about it.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let call: String
    public let errno: Int32
    public let hint: String?

    public init(_ call: String, errno: Int32 = Glibc.errno, hint: String? = nil) {
        self.call = call
        self.errno = errno
        self.hint = hint
    }

    public var errnoName: String { String(cString: strerror(errno)) }

    public var description: String {
        var text = "\(call) failed: \(errnoName) (errno \(errno))"
        if let hint { text += "; \(hint)" }
        return text
    }

    /// The same failure with advice attached.
    public func hinting(_ hint: String) -> SystemError { SystemError(call, errno: errno, hint: hint) }
}

/// Runs `body` until it stops failing with EINTR; a -1 result becomes a SystemError naming `call`.
@inline(__always)
@discardableResult
public func retryingInterrupts<T: BinaryInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        if errno == EINTR { continue }
        throw SystemError(call())
    }
}
