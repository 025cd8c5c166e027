import CaptureFuzz
import Foundation
import XCTest

/// Every input in Fuzz/corpus/TARGET — the seeds, and every input a fuzzer ever crashed on —
/// goes through its target's checks. A crash found by `make fuzz` is fixed, and its input is
/// added here, so it stays fixed.
final class FuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus").standardized.path

    func replay(_ target: FuzzTarget) throws {
        let dir = Self.corpus + "/" + target.rawValue
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertFalse(files.isEmpty, "no seed corpus in \(dir)")
        for file in files {
            target.run(Array(try XCTUnwrap(FileManager.default.contents(atPath: dir + "/" + file))))
        }
    }

    func testCodecCorpus() throws { try replay(.codec) }
    func testConfigCorpus() throws { try replay(.config) }
    func testStatusCorpus() throws { try replay(.status) }
    func testClientCorpus() throws { try replay(.client) }
    func testRingCorpus() throws { try replay(.ring) }
}
