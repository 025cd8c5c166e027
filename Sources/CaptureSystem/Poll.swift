import CCaptureShim

/// ppoll(2) for readability: what a thread that blocks on one or two descriptors needs.
public enum Poll {
    /// Waits until `fd` is readable or `timeoutNanoseconds` pass (negative: forever).
    public static func readable(_ fd: FileDescriptor, timeoutNanoseconds: Int64) -> Bool {
        capture_wait_readable(fd.raw, timeoutNanoseconds) == 1
    }

    /// Waits until either is readable or the timeout passes; says which are.
    public static func readable(_ first: FileDescriptor, _ second: FileDescriptor, timeoutNanoseconds: Int64) -> (first: Bool, second: Bool) {
        let mask = capture_wait_readable2(first.raw, second.raw, timeoutNanoseconds)
        guard mask > 0 else { return (false, false) }
        return (mask & 1 != 0, mask & 2 != 0)
    }
}

/// The processor, for spin loops.
public enum CPU {
    /// A spin-wait hint (PAUSE on x86, YIELD on arm64).
    @inline(__always)
    public static func relax() { capture_cpu_relax() }
}
