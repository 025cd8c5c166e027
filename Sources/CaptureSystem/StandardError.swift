#if canImport(Glibc)
import Glibc
#endif

/// The process's standard error: one write(2) per call, so lines written by different
/// threads never interleave.
public enum StandardError {
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
