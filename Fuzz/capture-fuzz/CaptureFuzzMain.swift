// capture-fuzz TARGET [libFuzzer options and corpus directories]
//   Built with `--sanitize=fuzzer` (make fuzz): fuzzes TARGET with libFuzzer.
//   Built without it: runs TARGET once on every file named (or in every directory named).
// capture-fuzz seeds DIR: writes the seed corpora (Fuzz/corpus is made by it).
// Targets: codec, config, status, client, ring (Fuzz/CaptureFuzz/FuzzTarget.swift).
#if canImport(Glibc)
import Glibc
#endif
import CaptureFuzz
import CCaptureFuzzDriver
import Foundation

nonisolated(unsafe) var selected: FuzzTarget = .codec

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@main
enum CaptureFuzzMain {
    static func main() throws {
        var args = CommandLine.arguments
        if args.count == 3 && args[1] == "seeds" {
            try FuzzSeeds.write(to: args[2])
            exit(0)
        }
        guard args.count >= 2, let target = FuzzTarget(rawValue: args[1]) else {
            print("usage: capture-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) [options] [corpus...]")
            exit(2)
        }
        selected = target
        args.remove(at: 1)

        if capture_fuzz_available() != 0 {
            var argc = Int32(args.count)
            var cStrings = args.map { strdup($0) } + [nil]
            let status = cStrings.withUnsafeMutableBufferPointer { buf -> Int32 in
                var argv = buf.baseAddress
                return capture_fuzz_run(&argc, &argv, fuzzOne)
            }
            exit(status)
        }

        // Replay: every file given, or every file in every directory given.
        var count = 0
        for path in args.dropFirst() where !path.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(Array(data))
                count += 1
            }
        }
        print("capture-fuzz \(target.rawValue): \(count) input(s) replayed without libFuzzer")
    }
}
