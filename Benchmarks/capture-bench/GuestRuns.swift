import Foundation

/// The daemon's absence, measured where it can be: in the guest (vm/scenarios/systemd-service.sh,
/// run by `make vm-test`), on the capture_dma driver, whose device keeps running while captured
/// is stopped. On this host the synthetic device is a thread of captured, so a SIGSTOP stops it
/// too; the report takes the guest's figures from the last `make vm-test` in this tree.
struct GuestRun: Codable {
    var kernel: String
    var date: String            // when the guest wrote its summary
    var commit: String          // the tree it ran (git describe --dirty), "" when unknown
    var lines: [String]         // the scenario's summary, from its 1,000 frames/s baseline on

    /// "D dropped" and "C corrupt" of the lease client in the summary line starting `prefix`,
    /// and whether its device overruns were unchanged ("device overruns A -> A").
    func leaseClient(_ prefix: String) -> (frames: Int, corrupt: Int, dropped: Int, noOverrun: Bool)? {
        guard let line = lines.first(where: { $0.hasPrefix(prefix) }) else { return nil }
        func int(after marker: String, in s: Substring) -> Int? {
            guard let r = s.range(of: marker) else { return nil }
            return Int(s[..<r.lowerBound].split(separator: " ").last ?? "")
        }
        guard let lease = line.range(of: "lease client ") else { return nil }
        let client = line[lease.upperBound...].prefix { $0 != ";" }
        guard let frames = int(after: " frames", in: client), let corrupt = int(after: " corrupt", in: client),
              let dropped = int(after: " dropped", in: client) else { return nil }
        var noOverrun = false
        if let o = line.range(of: "device overruns ") {
            let parts = line[o.upperBound...].split(separator: " ")
            noOverrun = parts.count >= 3 && parts[1] == "->" && parts[0] == parts[2].prefix { $0.isNumber }
        }
        return (frames, corrupt, dropped, noOverrun)
    }

    func passed(_ check: String) -> Bool { lines.contains("PASS  " + check) }

    /// Every kernel's systemd-service summary under `directory` (.build-vm/results).
    static func load(from directory: String) -> [GuestRun] {
        let fm = FileManager.default
        guard let kernels = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return kernels.sorted().compactMap { kernel in
            let path = "\(directory)/\(kernel)/systemd-service/results/summary.txt"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
            let all = text.split(separator: "\n").map(String.init)
            guard let first = all.firstIndex(where: { $0.hasPrefix("baseline at 1,000 frames/s") }) else { return nil }
            let last = all.lastIndex(where: { $0.contains("the restart kept the ring and its pins") }) ?? all.count - 1
            let commit = (try? String(contentsOfFile: "\(directory)/\(kernel)/systemd-service/commit", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return GuestRun(kernel: kernel, date: ISO8601DateFormatter().string(from: modified), commit: commit,
                            lines: Array(all[first...max(first, last)]))
        }
    }
}
