#if canImport(Glibc)
import Glibc
#endif
import CaptureProtocol
import CaptureSystem
import Foundation

extension CaptureClient {
    /// Asks the daemon for its status (no Hello needed).
    public static func status(socketPath: String = SocketPath.default) throws -> StatusReport {
        try JSONDecoder().decode(StatusReport.self, from: Data(statusJSON(socketPath: socketPath)))
    }

    /// The daemon's status document as it sent it (UTF-8 JSON, docs/PROTOCOL.md §3.9).
    public static func statusJSON(socketPath: String = SocketPath.default) throws -> [UInt8] {
        let socket = try UnixSocket.seqpacket()
        try UnixSocket.connect(socket, path: socketPath)
        do {
            _ = try MessageSocket.send(socket, .statusRequest)
        } catch let e as SystemError where e.errno == EPIPE || e.errno == ECONNRESET {
            // Refused at accept (too many clients, allow-list): the reason is waiting to be read.
        }
        let (reply, _) = try Connection.receiveReply(socket, expecting: "StatusReply")
        guard case .statusReply(let json) = reply else {
            throw CaptureClientError.protocolViolation("expected StatusReply, got \(reply.type)")
        }
        return json
    }
}
