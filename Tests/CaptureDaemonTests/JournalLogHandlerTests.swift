@testable import CaptureDaemon
import Logging
import XCTest

final class JournalLogHandlerTests: XCTestCase {
    /// Fields get journal names, client text is escaped, and the entries go to sd_journal_sendv
    /// from memory that lives through the call (make test-asan would catch it otherwise).
    func testEntriesNameEveryFieldAndEscapeClientText() {
        var handler = JournalLogHandler()
        handler.metadata = ["stream": "sim0"]
        let event = LogEvent(level: .warning, message: "client error unknown_stream: no stream named \"x\ncritical: forged\"",
                             metadata: ["pid": "42", "message_id": "0d8cbe1dc0b64ea3aba34e7b7f8ceb06", "ring_offset": "4096", "é": "1"],
                             source: nil, file: "f.swift", function: "g()", line: 7)
        let entries = handler.entries(for: event)
        XCTAssertTrue(entries.contains(#"MESSAGE=client error unknown_stream: no stream named "x\ncritical: forged""#), "\(entries)")
        XCTAssertTrue(entries.contains("PRIORITY=4"))
        XCTAssertTrue(entries.contains("SYSLOG_IDENTIFIER=captured"))
        XCTAssertTrue(entries.contains("CAPTURE_STREAM=sim0"))
        XCTAssertTrue(entries.contains("CAPTURE_CLIENT_PID=42"))
        XCTAssertTrue(entries.contains("MESSAGE_ID=0d8cbe1dc0b64ea3aba34e7b7f8ceb06"))
        XCTAssertTrue(entries.contains("CAPTURE_RING_OFFSET=4096"))
        XCTAssertTrue(entries.contains("CAPTURE__=1"), "journal field names are ASCII: \(entries)")
        XCTAssertFalse(entries.contains { $0.contains("\n") })
        JournalLogHandler.send(entries + [String(repeating: "X", count: 70_000)])
    }
}
