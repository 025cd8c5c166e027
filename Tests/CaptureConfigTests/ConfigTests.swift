import CaptureConfig
import CaptureRecording
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
        XCTAssertEqual(sim0.payload, .image, "a picture a person can watch move, every byte checked")
        XCTAssertEqual(sim0.format, .image(pixelFormat: "GRAY8", width: 1000, height: 1000, stride: 1000))
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

    func testFrameFormats() throws {
        let c = try Configuration.parse("""
            [stream.cam]
            payload = "image"
            format = { pixel_format = "BGRx", width = 640, height = 480 }
            [stream.wide]
            format = { pixel_format = "GRAY16_LE", width = 100, height = 10, stride = 256 }
            frame_bytes = 4096
            [stream.adc]
            format = { dtype = "<i2", shape = [4, 1000] }
            """, file: "t.toml")
        XCTAssertEqual(c.streams[0].format, .image(pixelFormat: "BGRx", width: 640, height: 480, stride: 2560))
        XCTAssertEqual(c.streams[0].frameBytes, 640 * 480 * 4, "frame_bytes defaults to the format's size")
        XCTAssertEqual(c.streams[1].frameBytes, 4096)
        XCTAssertEqual(c.streams[1].format.frameBytes, 2560)
        XCTAssertEqual(c.streams[2].format, .samples(dtype: "<i2", shape: [4, 1000]))
        XCTAssertEqual(c.streams[2].frameBytes, 8000)
    }

    func testFormatErrorsNameFileLineAndKey() {
        func message(_ text: String) -> String {
            do { _ = try Configuration.parse(text, file: "capture.toml"); return "no error" } catch { return error.description }
        }
        XCTAssertTrue(message("[stream.s.format]\npixel_format = \"NV12\"\nwidth = 8\nheight = 8\n")
            .hasPrefix("capture.toml:2: stream.s.format.pixel_format: \"NV12\" is not a pixel format this service knows; known (GStreamer's names): GRAY8, "))
        XCTAssertEqual(message("[stream.s]\nframe_bytes = 1000\n[stream.s.format]\npixel_format = \"RGB\"\nwidth = 100\nheight = 100\n"),
                       "capture.toml:2: stream.s.frame_bytes: 1000 bytes do not hold one frame of the format (30000 bytes); leave frame_bytes out to take the format's size")
        XCTAssertEqual(message("[stream.s.format]\npixel_format = \"RGB\"\nwidth = 100\nheight = 2\nstride = 299\n"),
                       "capture.toml:5: stream.s.format.stride: 299 bytes per row is less than 100 pixels of RGB (300 bytes)")
        XCTAssertEqual(message("[stream.s.format]\npixel_format = \"RGB\"\nheight = 2\n"),
                       "capture.toml:1: stream.s.format.width: an image needs a width (pixels)")
        XCTAssertEqual(message("[stream.s]\npayload = \"image\"\n"),
                       "capture.toml:2: stream.s.payload: \"image\" draws the test picture: give the stream an image format ([stream.s.format] with pixel_format, width and height)")
        XCTAssertTrue(message("[stream.s.format]\ndtype = \"int16\"\nshape = [3]\n").hasPrefix("capture.toml:2: stream.s.format.dtype: \"int16\" is not a NumPy typestr"))
        XCTAssertEqual(message("[stream.s.format]\ndtype = \"<i2\"\nshape = []\n"),
                       "capture.toml:3: stream.s.format.shape: expected an array of 1 to 4 dimensions, e.g. [4, 250000]")
        XCTAssertEqual(message("[stream.s.format]\ndtype = \"<i2\"\nshape = [2]\nwidth = 3\n"),
                       "capture.toml:4: stream.s.format.width: width describes an image: give pixel_format too")
        XCTAssertEqual(message("[stream.k]\ndevice = \"/dev/capture0\"\npayload = \"image\"\nformat = { pixel_format = \"GRAY8\", width = 8, height = 8 }\n"),
                       "capture.toml:3: stream.k.payload: \"image\" is drawn by the synthetic device; the driver's test engines write \"pattern\" or \"header\"")
    }

    /// A replay stream takes its frame size and format from the recording; what cannot be
    /// replayed is said with file:line.
    func testReplayStreams() throws {
        let dir = NSTemporaryDirectory() + "capture-config-replay-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        let writer = try RecordingWriter(directory: dir + "/rec", info: RecordingInfo(stream: "cam", frameBytes: 8192, payload: "image",
                                                                                     format: .image(pixelFormat: "GRAY8", width: 64, height: 128, stride: 64),
                                                                                     started: "now", host: "test"), writers: 1, direct: false)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 4096)
        defer { page.deallocate(); try? FileManager.default.removeItem(atPath: dir) }
        page.initializeMemory(as: UInt8.self, repeating: 7)
        writer.write(.init(UnsafeRawBufferPointer(page)), record: IndexRecord(kind: .frame, sequence: 1, length: 8192)) { _ in true }
        _ = writer.finish(.finished)

        let c = try Configuration.parse("[stream.r]\ndevice = \"replay:\(dir)/rec\"\n[stream.r.replay]\nloop = false\n", file: dir + "/capture.toml")
        XCTAssertEqual(c.streams[0].device, .replay(path: dir + "/rec"))
        XCTAssertEqual(c.streams[0].frameBytes, 8192)
        XCTAssertEqual(c.streams[0].format, .image(pixelFormat: "GRAY8", width: 64, height: 128, stride: 64))
        XCTAssertEqual(c.streams[0].replay?.loop, false)
        XCTAssertEqual(c.streams[0].replay?.recordedPace, true, "no frame_rate: the recorded pace")
        let relative = try Configuration.parse("[stream.r]\ndevice = \"replay:rec\"\nframe_rate = 50\n", file: dir + "/capture.toml")
        XCTAssertEqual(relative.streams[0].device, .replay(path: dir + "/rec"), "relative to the configuration file")
        XCTAssertEqual(relative.streams[0].replay?.recordedPace, false)

        func message(_ text: String) -> String {
            do { _ = try Configuration.parse(text, file: "capture.toml"); return "no error" } catch { return error.description }
        }
        XCTAssertTrue(message("[stream.r]\ndevice = \"replay:/no/such/recording\"\n")
            .hasPrefix("capture.toml:2: stream.r.device: cannot replay /no/such/recording: /no/such/recording is not a recording: no readable recording.json"))
        XCTAssertEqual(message("[stream.r]\ndevice = \"replay:\(dir)/rec\"\npayload = \"pattern\"\n"),
                       "capture.toml:3: stream.r.payload: a replay stream's frames are the recording's, payload included; leave payload out")
        XCTAssertEqual(message("[stream.r]\ndevice = \"replay:\(dir)/rec\"\nframe_bytes = 4096\n"),
                       "capture.toml:3: stream.r.frame_bytes: 4096 bytes are fewer than the recording's frames (8192); leave frame_bytes out")
        XCTAssertEqual(message("[stream.s]\n[stream.s.replay]\nloop = true\n"),
                       "capture.toml:2: stream.s.replay: replay settings are for a stream whose device is \"replay:PATH\"")
    }
}
