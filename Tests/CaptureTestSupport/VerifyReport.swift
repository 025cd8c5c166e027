/// What a verifying client (capture-testclient verify) saw; written as one JSON object to its
/// report file every half second and when it stops, so a harness that SIGKILLs it still has
/// its last tally (capture-soak reads them).
public struct VerifyReport: Codable, Sendable {
    public var mode: String
    public var frames: UInt64 = 0
    public var corrupt: UInt64 = 0
    public var unreportedGaps: UInt64 = 0
    public var outOfOrder: UInt64 = 0
    /// Latest mode: frames overwritten before they were read (detected by the seqlock).
    public var torn: UInt64 = 0
    public var dropped: [String: UInt64] = [:]
    public var error: String?

    public init(mode: String) { self.mode = mode }
}

/// A small deterministic generator (SplitMix64), so a failing run can be repeated by its seed.
public struct SplitMix: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
