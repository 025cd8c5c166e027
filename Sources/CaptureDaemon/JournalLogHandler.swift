#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging

/// swift-log backend that writes structured entries with sd_journal_sendv(3).
///
/// Metadata becomes journal fields: `stream` → CAPTURE_STREAM, `pid` → CAPTURE_CLIENT_PID,
/// `uid` → CAPTURE_CLIENT_UID, `client` → CAPTURE_CLIENT_ID, `seq`/`first_seq` → CAPTURE_SEQ,
/// `message_id` → MESSAGE_ID, anything else → CAPTURE_<KEY>. PRIORITY follows the level.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func field(for key: String) -> String {
        switch key {
        case "stream": return "CAPTURE_STREAM"
        case "pid": return "CAPTURE_CLIENT_PID"
        case "uid": return "CAPTURE_CLIENT_UID"
        case "client": return "CAPTURE_CLIENT_ID"
        case "seq", "first_seq": return "CAPTURE_SEQ"
        case "message_id": return "MESSAGE_ID"
        default:
            // Journal field names are A-Z, 0-9 and _.
            let cleaned = key.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }
            return "CAPTURE_" + String(cleaned)
        }
    }

    public func log(event: LogEvent) {
        Self.send(entries(for: event))
    }

    /// The journal fields of `event`, as `NAME=value` strings.
    func entries(for event: LogEvent) -> [String] {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        var entries = [
            "MESSAGE=\(LogText.escaped("\(event.message)"))",
            "PRIORITY=\(CaptureLogHandler.syslogPriority(event.level))",
            "SYSLOG_IDENTIFIER=captured",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in fields { entries.append("\(Self.field(for: key))=\(LogText.escaped("\(value)"))") }
        return entries
    }

    /// sd_journal_sendv(3) of `entries`, laid end to end in one buffer that outlives the call
    /// (sd_journal_sendv copies the data before it returns).
    static func send(_ entries: [String]) {
        var bytes: [UInt8] = []
        var ranges: [(offset: Int, count: Int)] = []
        for entry in entries {
            ranges.append((bytes.count, entry.utf8.count))
            bytes.append(contentsOf: entry.utf8)
        }
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var iov = ranges.map { r in iovec(iov_base: base + r.offset, iov_len: r.count) }
            _ = sd_journal_sendv(&iov, Int32(iov.count))
        }
    }

    /// True when stderr is journald's stream (JOURNAL_STREAM names its device and inode).
    public static var stderrIsJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return value == "\(st.st_dev):\(st.st_ino)"
    }
}
