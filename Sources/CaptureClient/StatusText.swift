import CaptureProtocol
import Foundation

/// `capturectl status` as text: per stream the device, ring, frames, drops, driver, guard and
/// every client.
public enum StatusText {
    public static func render(_ report: StatusReport) -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        line("captured \(report.version), pid \(report.daemonPID), up \(decimal(report.uptimeSeconds)) s, \(report.clients) connection(s)")
        for w in report.waitingForDevices { line("stream \(w): waiting for its device") }
        for s in report.streams {
            let rate = s.frameRate == 0 ? "as fast as possible" : "\(number(s.frameRate))/s"
            line("stream \(s.name): \(s.device), \(s.payload) payload, \(s.frameBytes)-byte frames at \(rate) (measured \(decimal(s.measuredRate))/s)")
            if let f = s.format {
                if f.kind == "image" {
                    line("  format:  \(f.pixelFormat ?? "?") \(f.width ?? 0)x\(f.height ?? 0), \(f.stride ?? 0) bytes per row")
                } else {
                    line("  format:  \(f.dtype ?? "?") samples, shape [\((f.shape ?? []).map(String.init).joined(separator: ", "))]")
                }
            }
            line("  ring:    \(s.slots) slots x \(s.slotBytes) B = \(s.ringBytes) B, locked \(s.lockedBytes) B, resident \(s.residentBytes) B, hugepages \(s.hugepages), seals \(s.seals), memfd inode \(s.ringInode)")
            line("  frames:  \(s.frames) published, head \(s.headSequence), \(s.dropped) dropped by the device, \(s.clientDrops) dropped at lease limits, \(s.slotsLeased) slots leased"
                 + (s.slotsQueued.map { ", \($0) queued at the device" } ?? ""))
            if s.pinnedPages > 0 {
                line("  driver:  \(s.pinnedPages) pages pinned, \(s.scatterGatherEntries) S/G entries, \(s.deviceOverruns) overruns")
            }
            line("  guard:   \(s.residencyGuard.state), \(s.residencyGuard.faults) residency faults, \(s.residencyGuard.removeEvents) remove events")
            if s.clients.isEmpty {
                line("  clients: none")
            } else {
                line("  clients:")
                line("    " + row(["ID", "PID", "UID", "MODE", "LEASES", "LAG", "DELIVERED", "DROPPED", "REVOKED"]))
                for c in s.clients {
                    line("    " + row(["\(c.id)", "\(c.pid)", "\(c.uid)", c.doorbell ? "\(c.mode)/doorbell" : c.mode, "\(c.leases)/\(c.maxLeases)",
                                     "\(c.lag)", "\(c.delivered)", "\(c.dropped)", "\(c.revoked)"]))
                }
            }
        }
        return out
    }

    static func row(_ cells: [String]) -> String {
        cells.map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined()
    }

    /// 1000 as "1000", 2.5 as "2.5": whole numbers without a fraction.
    static func number(_ d: Double) -> String {
        if let whole = Int(exactly: d) { return String(whole) }
        return String(d)
    }

    static func decimal(_ d: Double) -> String { String(format: "%.1f", d) }
}
