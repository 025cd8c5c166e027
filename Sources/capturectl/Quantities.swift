import ArgumentParser

/// A duration on the command line: 10s, 2m, 1h, 500ms, or plain seconds.
struct DurationArgument: ExpressibleByArgument {
    let nanoseconds: UInt64
    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var text = Substring(argument), scale = 1e9
        for (suffix, s) in units where text.hasSuffix(suffix) && Double(text.dropLast(suffix.count)) != nil {
            text = text.dropLast(suffix.count)
            scale = s
            break
        }
        guard let v = Double(text), v > 0, v * scale < 1e19 else { return nil }
        nanoseconds = UInt64(v * scale)
    }
}

/// A byte count on the command line: 10G, 500M, 64K, 1T (powers of 1024), or plain bytes.
struct ByteCountArgument: ExpressibleByArgument {
    let bytes: UInt64
    init?(argument: String) {
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024.0 * 1024 * 1024 * 1024]
        var text = Substring(argument.uppercased()), scale = 1.0
        if text.hasSuffix("B") { text = text.dropLast() }
        if let last = text.last, let s = units[last] { text = text.dropLast(); scale = s }
        guard let v = Double(text), v > 0, v * scale < 1.8e19 else { return nil }
        bytes = UInt64(v * scale)
    }
}
