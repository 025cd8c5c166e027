import CaptureClient
import CaptureProtocol
import Foundation

enum StatusFuzz {
    static func run(_ data: [UInt8]) {
        guard let report = try? JSONDecoder().decode(StatusReport.self, from: Data(data)) else { return }
        _ = StatusText.render(report)
        guard let encoded = try? JSONEncoder().encode(report) else { preconditionFailure("a decoded status does not encode") }
        guard let again = try? JSONDecoder().decode(StatusReport.self, from: encoded) else { preconditionFailure("a re-encoded status does not decode") }
        precondition(StatusText.render(again) == StatusText.render(report))
    }
}
