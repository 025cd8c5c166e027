#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import Logging

/// swift-log backend for captured: one line per event on stderr, metadata as key=value.
/// Under journald's stream (JOURNAL_STREAM set) each line starts with the syslog priority
/// `<N>`, which journald turns into PRIORITY=.
public struct CaptureLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let priorityPrefix: Bool

    public init(label: String) {
        self.label = label
        priorityPrefix = getenv("JOURNAL_STREAM") != nil
    }

    /// Installs the process's log backend: structured journal entries when stderr is journald's
    /// stream, plain lines on stderr otherwise.
    public static func bootstrap(level: Logger.Level) {
        let journal = JournalLogHandler.stderrIsJournal
        LoggingSystem.bootstrap { label in
            if journal {
                var h = JournalLogHandler()
                h.logLevel = level
                return h
            }
            var h = CaptureLogHandler(label: label)
            h.logLevel = level
            return h
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public func log(event: LogEvent) {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        fields["message_id"] = nil // for the journal; noise on a terminal
        var line = priorityPrefix ? "<\(Self.syslogPriority(event.level))>" : ""
        // One event, one line: whatever a client managed to get into the text is escaped.
        line += "\(event.level): \(LogText.escaped("\(event.message)"))"
        if !fields.isEmpty {
            line += " [" + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(LogText.escaped("\($0.value)"))" }.joined(separator: " ") + "]"
        }
        StandardError.write(line + "\n")
    }
}
