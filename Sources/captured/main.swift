#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CaptureConfig
import CaptureDaemon
import CaptureProtocol
import CaptureSystem
import Logging

struct Captured: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "captured",
        abstract: "The capture daemon: owns capture devices and their memfd rings, and shares frames with clients.",
        version: captureVersion)

    @Option(name: .long, help: "Configuration file.")
    var config: String = "/etc/capture/capture.toml"

    @Option(name: .long, help: "Listening socket (default: daemon.socket, else /run/capture/capture.sock as root, $XDG_RUNTIME_DIR/capture/capture.sock otherwise).")
    var socket: String?

    @Flag(name: .long, help: "Log debug messages too.")
    var verbose = false

    @Flag(name: .long, help: "Check the configuration and exit.")
    var checkConfig = false

    func run() throws {
        CaptureLogHandler.bootstrap(level: verbose ? .debug : .info)
        let logger = Logger(label: "captured")
        let configuration: Configuration
        do {
            configuration = try Configuration.load(path: config)
        } catch {
            StandardError.write("captured: \(error)\n")
            throw ExitCode(78) // EX_CONFIG
        }
        if checkConfig {
            print("\(config): OK, \(configuration.streams.count) stream(s)")
            return
        }
        let path = socket ?? configuration.socketPath ?? SocketPath.default
        do {
            let daemon = try Daemon(config: configuration, socketPath: path, logger: logger)
            try daemon.start()
            try daemon.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
    }
}

Captured.main()

