import CaptureConfig

enum ConfigFuzz {
    static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        do {
            let config = try Configuration.parse(text, file: "fuzz.toml")
            precondition(!config.streams.isEmpty)
            for s in config.streams {
                precondition(s.slots >= 2 && s.frameBytes > 0 && s.maxLeases > 0, "a configuration that cannot run was accepted")
                if let depth = s.queueDepth { precondition(s.slots >= depth + 2) }
            }
        } catch {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            if let line = error.line { precondition(line >= 1 && line <= lines + 1, "error at line \(line) of a \(lines)-line file") }
            precondition(error.description.hasPrefix("fuzz.toml"), "an error that does not name the file")
        }
    }
}
