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
            // Lines as the reader counts them: by newline bytes ("\r\n" is one Character in
            // Swift, so splitting the String would miscount).
            let lines = text.utf8.count(where: { $0 == UInt8(ascii: "\n") }) + 1
            if let line = error.line { precondition(line >= 1 && line <= lines + 1, "error at line \(line) of a \(lines)-line file") }
            precondition(error.description.hasPrefix("fuzz.toml"), "an error that does not name the file")
        }
    }
}
