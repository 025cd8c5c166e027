import CCaptureShim

/// The header's log of frames the device could not capture (no slot free): the device appends
/// a run, then publishes the count with a release store; a reader of the ring head (doorbell,
/// busy polling, self-serve leases) looks a missing frame up here to tell a device overrun from
/// a frame it was itself too late for (PROTOCOL.md §4.1).
public enum RingGaps {
    /// Appends frames `first ..< first + count` (the device, one writer).
    public static func log(ringBase: UnsafeMutableRawPointer, first: UInt64, count: UInt64) {
        let written = capture_load_relaxed_u64(ringBase + RingLayout.Header.gapsWritten)
        // Extends the newest run when this one follows it (an overrun of several frames).
        if written > 0 {
            let last = ringBase + RingLayout.Header.gaps + Int((written - 1) % UInt64(RingLayout.gapLogEntries)) * 16
            let lastFirst = capture_load_relaxed_u64(last), lastCount = capture_load_relaxed_u64(last + 8)
            if lastFirst + lastCount == first {
                capture_store_relaxed_u64(last + 8, lastCount + count)
                capture_store_release_u64(ringBase + RingLayout.Header.gapsWritten, written) // publishes the longer run
                return
            }
        }
        let entry = ringBase + RingLayout.Header.gaps + Int(written % UInt64(RingLayout.gapLogEntries)) * 16
        capture_store_relaxed_u64(entry, first)
        capture_store_relaxed_u64(entry + 8, count)
        capture_store_release_u64(ringBase + RingLayout.Header.gapsWritten, written + 1)
    }

    /// How many of frames `first ..< first + count` the device logged as not captured; frames
    /// older than the log can say count as not captured.
    public static func missed(ringBase: UnsafeRawPointer, first: UInt64, count: UInt64) -> UInt64 {
        let written = capture_load_acquire_u64(ringBase + RingLayout.Header.gapsWritten)
        let n = UInt64(RingLayout.gapLogEntries)
        var total: UInt64 = 0, oldest = UInt64.max
        for i in (written > n ? written - n : 0)..<written {
            let entry = ringBase + RingLayout.Header.gaps + Int(i % n) * 16
            let runFirst = capture_load_relaxed_u64(entry), runCount = capture_load_relaxed_u64(entry + 8)
            let lo = max(first, runFirst), hi = min(first &+ count, runFirst &+ runCount)
            if hi > lo { total += hi - lo }
            oldest = min(oldest, runFirst)
        }
        if written > n && first < oldest { total += min(count, oldest - first) } // beyond the log
        return min(total, count)
    }

    /// Whether the device logged `sequence` as not captured (nil: too old for the log to say).
    public static func deviceMissed(ringBase: UnsafeRawPointer, sequence: UInt64) -> Bool? {
        let written = capture_load_acquire_u64(ringBase + RingLayout.Header.gapsWritten)
        let n = UInt64(RingLayout.gapLogEntries)
        var oldest = UInt64.max
        for i in (written > n ? written - n : 0)..<written {
            let entry = ringBase + RingLayout.Header.gaps + Int(i % n) * 16
            let first = capture_load_relaxed_u64(entry), count = capture_load_relaxed_u64(entry + 8)
            if sequence >= first && sequence - first < count { return true }
            oldest = min(oldest, first)
        }
        // A full log that starts after `sequence` may have dropped its run.
        return written > n && sequence < oldest ? nil : false
    }
}
