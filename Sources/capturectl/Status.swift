import ArgumentParser
import CaptureClient
import CaptureProtocol
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show streams, rings, locked memory, guard faults, frames, drops and clients.",
        discussion: """
            Examples:
              capturectl status
              capturectl status --json | jq '.streams[].dropped'
            """)
    @OptionGroup var options: SocketOption
    @Flag(name: .long, help: "Print the daemon's JSON document.")
    var json = false

    func run() throws {
        let report: StatusReport
        do { report = try CaptureClient.status(socketPath: options.socket) } catch { throw fail(error) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print(StatusText.render(report), terminator: "")
    }
}
