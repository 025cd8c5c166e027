#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A program the tests drive over its stdin and stdout: `ready`/`holding` lines out, commands
/// in, `result key=value ...` last.
final class DrivenProgram {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    let name: String
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []
    private(set) var lines: [String] = []

    init(_ name: String, executable: URL, arguments: [String], environment: [String: String]) throws {
        self.name = name
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    /// The next line the program prints, or nil when it closed its output or `timeout` passed.
    func readLine(timeout: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                lines.append(line)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) == 1 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffered += chunk[..<n]
        }
    }

    /// Reads lines until one starts with `prefix`.
    func expect(_ prefix: String, timeout: Double = 30) throws -> String {
        while let line = readLine(timeout: timeout) {
            if line.hasPrefix(prefix) { return line }
        }
        throw FixtureError("\(name) never printed \(prefix); it printed:\n\(lines.joined(separator: "\n"))")
    }

    func send(_ command: String) {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
    }

    /// The `result key=value ...` line, as a dictionary, after the program exits.
    func result(timeout: Double = 60) throws -> [String: String] {
        let line = try expect("result", timeout: timeout)
        process.waitUntilExit()
        var fields: [String: String] = ["exit": String(process.terminationStatus)]
        for pair in line.dropFirst("result ".count).split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}
