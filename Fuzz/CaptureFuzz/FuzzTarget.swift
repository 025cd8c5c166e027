/// The fuzz targets: what each feeds fuzzed bytes to, and what must hold whatever the bytes.
/// A check that finds its invariant broken traps (precondition), which libFuzzer reports as a
/// crash and saves the input; the inputs that found bugs live on in Fuzz/corpus/TARGET and
/// are replayed by `make test` (Tests/CaptureFuzzTests).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Message.decode of any packet, and encode ∘ decode round trips (both directions).
    case codec
    /// capture.toml parsing: errors with a line inside the file, never a crash.
    case config
    /// The status document as a client decodes and shows it.
    case status
    /// The client library fed a Welcome and then any packets by something playing the daemon.
    case client
    /// The client library on a ring whose header and descriptors hold garbage.
    case ring

    public func run(_ data: [UInt8]) {
        switch self {
        case .codec: CodecFuzz.run(data)
        case .config: ConfigFuzz.run(data)
        case .status: StatusFuzz.run(data)
        case .client: ClientFuzz.run(data)
        case .ring: RingFuzz.run(data)
        }
    }
}
