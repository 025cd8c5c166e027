#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole file with read(2) until EOF. /proc and /sys files report size 0, so
/// size-based readers see them empty; this does not. nil when the file cannot be opened.
public func readWholeFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    return String(decoding: data, as: UTF8.self)
}

/// CPU time the hypervisor took from this machine's virtual CPUs (the `steal` column of
/// /proc/stat's `cpu` line), summed over every CPU, in milliseconds; 0 on bare metal. What a
/// latency or overrun figure measured meanwhile owes to the host, not to this machine.
public func stolenMilliseconds() -> Double {
    guard let line = (readWholeFile("/proc/stat") ?? "").split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
    let fields = line.split(separator: " ")
    guard fields.count > 8, let ticks = Double(fields[8]) else { return 0 }
    return ticks * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
}
