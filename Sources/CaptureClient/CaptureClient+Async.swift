import Foundation

extension CaptureClient {
    /// Frames as an async sequence, read on a thread of their own. Ending the iteration
    /// closes the client.
    public var frames: AsyncThrowingStream<Frame, Error> { bridge { try $0.nextFrame() } }

    /// Every event as an async sequence; ending the iteration closes the client.
    public var events: AsyncThrowingStream<CaptureEvent, Error> { bridge { try $0.nextEvent() } }

    /// Calls the blocking `next` on a thread of its own and yields what it returns, until it
    /// throws or the iteration ends (which closes the client, waking the thread).
    private func bridge<T: Sendable>(_ next: @escaping @Sendable (CaptureClient) throws -> T) -> AsyncThrowingStream<T, Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    while true {
                        if case .terminated = continuation.yield(try next(self)) { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [self] _ in self.close() }
            thread.start()
        }
    }
}
