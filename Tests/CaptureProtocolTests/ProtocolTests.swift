import CaptureProtocol
import XCTest

final class ProtocolTests: XCTestCase {
    func testEveryMessageRoundTrips() throws {
        let messages: [Message] = [
            .hello(stream: "sim0", mode: .lease, maxLeases: 4),
            .hello(stream: "cam-1_x", mode: .latest, maxLeases: 0),
            .hello(stream: "sim0", mode: .latest, maxLeases: 0, flags: .doorbell),
            .welcome(Welcome(clientID: 8, mode: .latest, maxLeases: 0, leaseTimeoutMilliseconds: 5000, ringBytes: 4096, headSequence: 1, doorbell: true)),
            .welcome(Welcome(clientID: 7, mode: .lease, maxLeases: 8, leaseTimeoutMilliseconds: 5000, ringBytes: 1 << 30, headSequence: 99)),
            .frames([FrameEntry(slot: 1, sequence: 2), FrameEntry(slot: 63, sequence: UInt64.max)]),
            .frames([]),
            .release([FrameEntry(slot: 5, sequence: 6)]),
            .dropped(Dropped(firstSequence: 10, count: 3, reason: .leaseLimit, clientTotal: 12)),
            .leaseRevoked(FrameEntry(slot: 3, sequence: 4)),
            .error(code: .unknownStream, message: "no stream named \"x\""),
            .goodbye(reason: .shuttingDown, message: "bye"),
            .statusRequest,
            .statusReply(json: Array("{}".utf8)),
        ]
        for m in messages {
            XCTAssertEqual(try Message.decode(m.encode()), m)
        }
    }

    func testHelloHasTheDocumentedLayout() {
        let bytes = Message.hello(stream: "sim0", mode: .latest, maxLeases: 3).encode()
        XCTAssertEqual(bytes, [1, 0, 1, 0, 20, 0, 0, 0, 2, 0, 3, 0, 4, 0, 0, 0] + Array("sim0".utf8))
    }

    func testDoorbellFlagsSitWhereTheDocumentSays() {
        let hello = Message.hello(stream: "sim0", mode: .latest, maxLeases: 0, flags: .doorbell).encode()
        XCTAssertEqual(hello[9], 1, "Hello byte 9 bit 0")
        let welcome = Message.welcome(Welcome(clientID: 1, mode: .latest, maxLeases: 0, leaseTimeoutMilliseconds: 0,
                                              ringBytes: 0, headSequence: 0, doorbell: true)).encode()
        XCTAssertEqual(welcome[13], 1, "Welcome byte 13 bit 0")
        // A flag this version does not know is ignored, not refused.
        var future = hello
        future[9] = 0x81
        XCTAssertEqual(try Message.decode(future), .hello(stream: "sim0", mode: .latest, maxLeases: 0, flags: .doorbell))
    }

    func testBadInputIsNamedPrecisely() {
        func error(_ bytes: [UInt8]) -> ProtocolError? {
            do { _ = try Message.decode(bytes); return nil } catch { return error }
        }
        let hello = Message.hello(stream: "sim0", mode: .lease, maxLeases: 0).encode()
        XCTAssertEqual(error([1, 0, 1])?.code, .malformed)                       // shorter than a header
        XCTAssertEqual(error(Array(hello.dropLast()))?.code, .malformed)         // truncated
        var v2 = hello; v2[2] = 2
        XCTAssertEqual(error(v2), .unsupportedVersion(2))
        var unknown = hello; unknown[0] = 77
        XCTAssertEqual(error(unknown), .unknownType(77))
        var badMode = hello; badMode[8] = 9
        XCTAssertEqual(error(badMode)?.code, .malformed)
        XCTAssertEqual(error(hello + [0])?.code, .malformed)                      // length field disagrees
        var lying = Message.frames([FrameEntry(slot: 1, sequence: 1)]).encode()
        lying[8] = 2                                                             // claims 2 entries, carries 1
        XCTAssertEqual(error(lying)?.code, .malformed)
        XCTAssertEqual(error([UInt8](repeating: 0, count: CaptureProtocol.maxMessageBytes + 1))?.code, .tooLarge)
        let emptyName: [UInt8] = [1, 0, 1, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(error(emptyName)?.code, .malformed)
    }
}
