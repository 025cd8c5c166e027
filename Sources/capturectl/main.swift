#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureProtocol
import CaptureSystem

struct CaptureCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capturectl",
        abstract: "Inspect, read, record and watch the streams of captured.",
        discussion: """
            Every subcommand takes --socket PATH, before or after its name; CAPTURE_SOCKET sets the default.

            Examples:
              capturectl status
              capturectl tail sim0 --frames 10000 --verify
              capturectl record sim0 /tmp/x --duration 10s
              capturectl watch
            """,
        subcommands: [Status.self, Tail.self, Record.self, Watch.self])
}

struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "captured's socket (default: $CAPTURE_SOCKET, else /run/capture/capture.sock as root, $XDG_RUNTIME_DIR/capture/capture.sock otherwise).")
    var socket: String = SocketPath.default

    /// `capturectl --socket S tail sim0` as well as `capturectl tail sim0 --socket S`: a
    /// --socket given before the subcommand is moved after it, where the subcommand reads it.
    static func hoisted(_ arguments: [String]) -> [String] {
        var rest = Array(arguments.dropFirst())
        var moved: [String] = []
        while let first = rest.first, first.hasPrefix("-") {
            if first == "--socket", rest.count >= 2 {
                moved += rest.prefix(2)
                rest.removeFirst(2)
            } else if first.hasPrefix("--socket=") {
                moved.append(rest.removeFirst())
            } else {
                break
            }
        }
        // Only before a subcommand's name: `--socket S --help` and `--socket S help tail` are left alone.
        guard !moved.isEmpty, let subcommand = rest.first, !subcommand.hasPrefix("-"), subcommand != "help" else {
            return Array(arguments.dropFirst())
        }
        return [subcommand] + moved + rest.dropFirst()
    }
}

func fail(_ error: Error) -> ExitCode {
    printError("capturectl: \(error)")
    return ExitCode.failure
}

func printError(_ text: String) { StandardError.write(text + "\n") }

CaptureCtl.main(SocketOption.hoisted(CommandLine.arguments))
