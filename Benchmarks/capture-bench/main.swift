import ArgumentParser

/// capture-bench: capture against its peers (GStreamer shm, a copy over a Unix socket) and the
/// machine's limits, in one run; `make bench` runs `suite` and writes docs/BENCHMARKS.md.
struct CaptureBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture-bench",
        abstract: "Benchmarks capture against its peers and the machine's limits.",
        subcommands: [SuiteCommand.self, ClientCommand.self, CopyServerCommand.self, CopyClientCommand.self, WakeCommand.self, RenderCommand.self],
        defaultSubcommand: SuiteCommand.self)
}

CaptureBench.main()
