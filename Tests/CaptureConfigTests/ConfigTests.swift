import CaptureConfig
import XCTest

final class ConfigTests: XCTestCase {
    func testShippedConfigDefinesSim0AtTheUsersRate() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/capture.toml").path
        let config = try Configuration.load(path: path)
        let sim0 = try XCTUnwrap(config.streams.first { $0.name == "sim0" })
        XCTAssertEqual(sim0.device, .synthetic)
        XCTAssertEqual(sim0.frameBytes, 1_000_000)
        XCTAssertNotEqual(sim0.frameBytes % 4096, 0)
        XCTAssertEqual(sim0.frameRate, 1000)
        XCTAssertEqual(sim0.payload, .pattern)
        XCTAssertNil(sim0.queueDepth, "the device gets every slot no client holds")
        XCTAssertGreaterThanOrEqual(sim0.slots, 4 * sim0.maxLeases + 16, "room for several lease clients and slack for the device")
    }

    func testDottedKeysAndInlineTables() throws {
        let c = try Configuration.parse("""
            [stream.a]
            ring.hugepages = "2M"
            ring.slots = 16
            [stream.b]
            ring = { lock = "best-effort", slots = 12 }
            frame_rate = 0
            """, file: "t.toml")
        XCTAssertEqual(c.streams.map(\.name), ["a", "b"])
        XCTAssertEqual(c.streams[0].hugePage, .size2M)
        XCTAssertEqual(c.streams[0].slots, 16)
        XCTAssertEqual(c.streams[1].lock, .bestEffort)
        XCTAssertEqual(c.streams[1].frameRate, 0)
    }

    func testErrorsNameFileLineAndKey() {
        func message(_ text: String) -> String {
            do { _ = try Configuration.parse(text, file: "capture.toml"); return "no error" } catch { return error.description }
        }
        XCTAssertEqual(message("[stream.s]\nframe_rate = \"fast\"\n"),
                       "capture.toml:2: stream.s.frame_rate: expected a number, found a string")
        XCTAssertEqual(message("[daemon]\nmax_clientz = 3\n[stream.s]\n"),
                       "capture.toml:2: daemon.max_clientz: unknown key (known: client_timeout_ms, hello_timeout_ms, lease_timeout_ms, max_clients, max_clients_per_uid, socket)")
        XCTAssertEqual(message("[stream.s]\n\n[stream.s.ring]\nlock = \"maybe\"\n"),
                       "capture.toml:4: stream.s.ring.lock: \"maybe\" is not one of \"required\", \"best-effort\"")
        XCTAssertEqual(message("[stream.s]\nqueue_depth = 8\nring.slots = 4\n"),
                       "capture.toml:3: stream.s.ring.slots: 4 slots cannot feed a device queue of 8 and leave frames for clients; use at least 10")
        XCTAssertEqual(message("[stream.k]\ndevice = \"/dev/capture0\"\nring.lock = \"best-effort\"\n"),
                       "capture.toml:3: stream.k.ring.lock: \"best-effort\" is for synthetic streams only: a device DMAs into the ring, so it must be locked")
        XCTAssertEqual(message("[stream.s]\nframe_bytes = 10\nframe_bytes = 11\n"),
                       "capture.toml:3: key stream.s.frame_bytes is already set on line 2")
        XCTAssertEqual(message("[stream.s]\nframe_bytes = = 3\n"), "capture.toml:2: '=' is not a TOML value (strings need quotes)")
        XCTAssertEqual(message("[stream.s]\nframe_bytes = 0\n"), "capture.toml:2: stream.s.frame_bytes: 0 is out of range (8…4294967296)")
        XCTAssertEqual(message("[daemon]\n"), "capture.toml: stream: no stream is defined; add a [stream.NAME] table")
        XCTAssertTrue(message("[access]\nallow_groups = [\"no-such-group-here\"]\n[stream.s]\n").hasPrefix("capture.toml:2: access.allow_groups: no group named"))
    }
}
