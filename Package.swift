// swift-tools-version:6.0
import PackageDescription

// Hot loops (pattern and image fill, CRC) live in C and are always optimised, so a debug
// build of the daemon or the tests still runs the synthetic device at full rate.
let optimisedC: [CSetting] = [.unsafeFlags(["-O2"])]

let package = Package(
    name: "capture",
    products: [
        .executable(name: "captured", targets: ["captured"]),
        .executable(name: "capturectl", targets: ["capturectl"]),
        .library(name: "CaptureClient", targets: ["CaptureClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // C: constants, packed and union structs Swift cannot import, atomics on shared memory.
        .target(name: "CCaptureShim", dependencies: ["CCaptureUAPI"], cSettings: optimisedC),
        // What a frame holds: pixel formats, the pattern and image payloads, CRC-32. The very
        // C that libcapture is built from (libcapture/payload), so there is one of each.
        .target(name: "CCapturePayload", path: "libcapture/payload", cSettings: optimisedC),
        // The ring's layout and the driver's ioctl ABI: the very headers the kernel module
        // includes (driver/uapi), one definition for the driver, captured and libcapture.
        .target(name: "CCaptureUAPI", path: "driver/uapi", publicHeadersPath: "."),
        // libsystemd (sd_notify, sd_listen_fds, sd_journal_sendv) and libudev.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev", "libudev-dev"])]),
        // One thin wrapper per syscall; errno becomes SystemError naming the call.
        .target(name: "CaptureSystem", dependencies: ["CCaptureShim"]),
        // The memfd ring: layout, creation, sealing, locking, the seqlock and the frame pattern.
        .target(name: "CaptureRing", dependencies: ["CaptureSystem", "CCaptureShim", "CCaptureUAPI", "CCapturePayload"]),
        // The wire protocol over SOCK_SEQPACKET.
        .target(name: "CaptureProtocol", dependencies: ["CaptureSystem"]),
        // Recordings on disk (docs/RECORDING.md): the index, the writer (O_DIRECT), the reader.
        .target(name: "CaptureRecording", dependencies: ["CaptureRing", "CaptureSystem", "CCapturePayload",
                                                      .product(name: "DequeModule", package: "swift-collections")]),
        // Device backends: the contract, the synthetic and replay devices, the kernel char device.
        .target(name: "CaptureDevice", dependencies: ["CaptureRing", "CaptureRecording", "CaptureSystem", "CCaptureShim", "CCaptureUAPI",
                                                   .product(name: "DequeModule", package: "swift-collections")]),
        // capture.toml: a TOML reader that keeps line numbers, and the typed configuration.
        .target(name: "CaptureConfig", dependencies: ["CaptureRing", "CaptureRecording", "CaptureSystem"]),
        // The daemon: event loop, streams, client sessions, residency guard, logging.
        .target(name: "CaptureDaemon", dependencies: [
            "CaptureConfig", "CaptureDevice", "CaptureProtocol", "CaptureRecording", "CaptureRing", "CaptureSystem", "CSystemd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .executableTarget(name: "captured", dependencies: [
            "CaptureDaemon", "CaptureConfig", "CaptureProtocol", "CaptureSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The client library applications link.
        .target(name: "CaptureClient", dependencies: ["CaptureProtocol", "CaptureRing", "CaptureSystem", .product(name: "DequeModule", package: "swift-collections")]),
        .executableTarget(name: "capturectl", dependencies: [
            "CaptureClient", "CaptureProtocol", "CaptureRecording", "CaptureSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // `make bench`: capture against GStreamer's shm transport, a socket copy and the machine.
        .target(name: "CCaptureBench", dependencies: ["CCaptureShim"], path: "Benchmarks/CCaptureBench", cSettings: optimisedC),
        .executableTarget(name: "capture-bench", dependencies: [
            "CaptureClient", "CaptureProtocol", "CaptureRing", "CaptureSystem", "CCaptureShim", "CCapturePayload", "CCaptureBench",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "Benchmarks/capture-bench"),
        .target(name: "CaptureTestSupport", path: "Tests/CaptureTestSupport"),
        // A misbehaving client for the service tests (holds leases, never reads, sends garbage),
        // and the soak's verifying client.
        .executableTarget(name: "capture-testclient", dependencies: ["CaptureClient", "CaptureProtocol", "CaptureSystem", "CaptureRing", "CCaptureShim", "CCaptureUAPI",
                                                                    "CaptureTestSupport"],
                          path: "Tests/capture-testclient"),
        // make soak: the daemon under a randomized mix of verifying clients and chaos.
        .executableTarget(name: "capture-soak", dependencies: ["CaptureClient", "CaptureProtocol", "CaptureSystem", "CaptureTestSupport"],
                          path: "Tests/capture-soak"),
        // Fuzzing (make fuzz): the checks, a libFuzzer driver, and one program for every target.
        .target(name: "CaptureFuzz", dependencies: ["CaptureProtocol", "CaptureConfig", "CaptureClient", "CaptureRing", "CaptureSystem"],
                path: "Fuzz/CaptureFuzz"),
        .target(name: "CCaptureFuzzDriver", path: "Fuzz/CCaptureFuzzDriver"),
        .executableTarget(name: "capture-fuzz", dependencies: ["CaptureFuzz", "CCaptureFuzzDriver"], path: "Fuzz/capture-fuzz"),
        .testTarget(name: "CaptureFuzzTests", dependencies: ["CaptureFuzz"]),
        .testTarget(name: "CaptureRingTests", dependencies: ["CaptureRing", "CaptureSystem", "CaptureDevice", "CCaptureUAPI"]),
        .testTarget(name: "CaptureDaemonTests", dependencies: ["CaptureDaemon", "CaptureRing", "CaptureSystem", "CCaptureShim", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CaptureProtocolTests", dependencies: ["CaptureProtocol"]),
        .testTarget(name: "CaptureConfigTests", dependencies: ["CaptureConfig", "CaptureRecording", "CaptureRing", "CaptureSystem"]),
        .testTarget(name: "CaptureServiceTests", dependencies: ["CaptureClient", "CaptureProtocol", "CaptureSystem", "CaptureRing", "CaptureRecording"]),
    ]
)
