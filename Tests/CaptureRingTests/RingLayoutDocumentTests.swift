import CaptureRing
import CCaptureUAPI
import Foundation
import XCTest

/// docs/PROTOCOL.md §4 is what third parties write clients from; driver/uapi/capture_ring.h is
/// what the driver, captured and libcapture compile. They must say the same thing.
final class RingLayoutDocumentTests: XCTestCase {
    static let protocolText: String = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/PROTOCOL.md").standardized.path
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    /// The rows of the table under `heading`: (offset, bytes, field name).
    func table(after heading: String) throws -> [(offset: Int, bytes: Int, name: String)] {
        let text = Self.protocolText
        let start = try XCTUnwrap(text.range(of: heading), "PROTOCOL.md has no \(heading)")
        var rows: [(Int, Int, String)] = []
        for line in text[start.upperBound...].split(separator: "\n").drop(while: { !$0.hasPrefix("| offset") }).dropFirst(2) {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let bytes: Int = switch cells[1] {
            case "u8": 1
            case "u16": 2
            case "u32": 4
            case "u64": 8
            default: Int(cells[1].split(separator: " ")[0]) ?? -1
            }
            let name = cells[2].split(separator: "`").first { !$0.isEmpty && $0.first != " " } ?? ""
            rows.append((Int(cells[0]) ?? -1, bytes, String(name)))
        }
        return rows
    }

    func check<T>(_ rows: [(offset: Int, bytes: Int, name: String)], _ fields: KeyValuePairs<String, PartialKeyPath<T>>, size: Int,
                  file: StaticString = #filePath, line: UInt = #line) {
        let c = fields.map { (name: $0.key, offset: MemoryLayout<T>.offset(of: $0.value)!) }.sorted { $0.offset < $1.offset }
        XCTAssertEqual(rows.map(\.name), c.map(\.name), "PROTOCOL.md's fields, in order", file: file, line: line)
        for (i, field) in c.enumerated() {
            guard let row = rows.first(where: { $0.name == field.name }) else { continue }
            let end = i + 1 < c.count ? c[i + 1].offset : size
            XCTAssertEqual(row.offset, field.offset, "offset of \(field.name)", file: file, line: line)
            XCTAssertEqual(row.bytes, end - field.offset, "size of \(field.name)", file: file, line: line)
        }
    }

    func testTheHeaderTableIsStructCaptureRingHeader() throws {
        check(try table(after: "### 4.1 Header"), [
            "magic": \capture_ring_header.magic, "layout_version": \capture_ring_header.layout_version,
            "header_bytes": \capture_ring_header.header_bytes, "slot_count": \capture_ring_header.slot_count,
            "descriptor_bytes": \capture_ring_header.descriptor_bytes, "descriptors_offset": \capture_ring_header.descriptors_offset,
            "slots_offset": \capture_ring_header.slots_offset, "slot_stride": \capture_ring_header.slot_stride,
            "frame_bytes": \capture_ring_header.frame_bytes, "ring_bytes": \capture_ring_header.ring_bytes,
            "payload_format": \capture_ring_header.payload_format, "page_bytes": \capture_ring_header.page_bytes,
            "stream_name": \capture_ring_header.stream_name, "reserved0": \capture_ring_header.reserved0,
            "head_sequence": \capture_ring_header.head_sequence, "head_slot": \capture_ring_header.head_slot,
            "reserved1": \capture_ring_header.reserved1, "format": \capture_ring_header.format,
            "gaps_written": \capture_ring_header.gaps_written, "reserved2": \capture_ring_header.reserved2,
            "gaps": \capture_ring_header.gaps,
        ] as KeyValuePairs<String, PartialKeyPath<capture_ring_header>>, size: MemoryLayout<capture_ring_header>.size)
    }

    func testTheFormatTableIsStructCaptureFrameFormat() throws {
        check(try table(after: "### 4.3 Frame format"), [
            "kind": \capture_frame_format.kind, "ndim": \capture_frame_format.ndim,
            "pixel_format": \capture_frame_format.pixel_format, "width": \capture_frame_format.width,
            "height": \capture_frame_format.height, "stride": \capture_frame_format.stride,
            "reserved0": \capture_frame_format.reserved0, "dtype": \capture_frame_format.dtype,
            "shape": \capture_frame_format.shape, "reserved": \capture_frame_format.reserved,
        ] as KeyValuePairs<String, PartialKeyPath<capture_frame_format>>, size: MemoryLayout<capture_frame_format>.size)
        XCTAssertEqual(RingLayout.Header.format, 256)
        // Every pixel format the service knows is in the document's table, and no other.
        let text = Self.protocolText
        let section = try XCTUnwrap(text.range(of: "| pixel_format | bytes per pixel |"))
        let rows = text[section.upperBound...].split(separator: "\n").dropFirst(2).prefix { $0.hasPrefix("|") }
        let documented = rows.flatMap { $0.split(separator: "|")[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")) } }
        XCTAssertEqual(Set(documented), Set(FrameFormat.pixelFormats))
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            for name in cells[0].split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")) }) {
                XCTAssertEqual(FrameFormat.bytesPerPixel(name), Int(cells[1]), name)
            }
        }
    }

    func testTheHoldsPageTableIsStructCaptureHolds() throws {
        check(try table(after: "#### 3.2.2 Self-serve leases"), [
            "magic": \capture_holds.magic, "limit": \capture_holds.limit, "reserved0": \capture_holds.reserved0,
            "examined": \capture_holds.examined, "recycled": \capture_holds.recycled, "reserved1": \capture_holds.reserved1,
            "held": \capture_holds.held,
        ] as KeyValuePairs<String, PartialKeyPath<capture_holds>>, size: MemoryLayout<capture_holds>.size)
        XCTAssertTrue(Self.protocolText.contains("0x\(String(RingLayout.Holds.magicValue, radix: 16, uppercase: true))"))
    }

    func testTheDescriptorTableIsStructCaptureSlotDescriptor() throws {
        check(try table(after: "### 4.2 Slot descriptor"), [
            "generation": \capture_slot_descriptor.generation, "sequence": \capture_slot_descriptor.sequence,
            "length": \capture_slot_descriptor.length, "timestamp_ns": \capture_slot_descriptor.timestamp_ns,
            "flags": \capture_slot_descriptor.flags, "checksum": \capture_slot_descriptor.checksum,
            "offset": \capture_slot_descriptor.offset, "reserved": \capture_slot_descriptor.reserved,
        ] as KeyValuePairs<String, PartialKeyPath<capture_slot_descriptor>>, size: MemoryLayout<capture_slot_descriptor>.size)
        XCTAssertEqual(MemoryLayout<capture_slot_descriptor>.size, 64)
        XCTAssertTrue(Self.protocolText.contains("descriptors_offset + slot × \(RingLayout.descriptorBytes)"))
    }

    func testTheConstantsAreTheHeadersOwn() {
        let text = Self.protocolText
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16, uppercase: true) }
        XCTAssertTrue(text.contains(hex(UInt64(CAPTURE_RING_MAGIC))), "the magic")
        XCTAssertTrue(text.contains(hex(UInt64(CAPTURE_PATTERN_BASE))) && text.contains(hex(UInt64(CAPTURE_PATTERN_STEP))), "the pattern")
        XCTAssertTrue(text.contains("`layout_version`: **\(CAPTURE_RING_LAYOUT_VERSION)**"))
        XCTAssertTrue(text.contains("`header_bytes`: \(CAPTURE_RING_HEADER_BYTES)"))
        XCTAssertTrue(text.contains("0 raw, 1 pattern, 2 header, 3 image"))
        XCTAssertEqual([PayloadFormat.raw, .pattern, .header, .image].map(\.rawValue),
                       [UInt32(CAPTURE_PAYLOAD_RAW), UInt32(CAPTURE_PAYLOAD_PATTERN), UInt32(CAPTURE_PAYLOAD_HEADER), UInt32(CAPTURE_PAYLOAD_IMAGE)])
        XCTAssertTrue(text.contains("`kind`: 0 opaque bytes, 1 image, 2 samples"))
        XCTAssertEqual([CAPTURE_FORMAT_OPAQUE, CAPTURE_FORMAT_IMAGE, CAPTURE_FORMAT_SAMPLES], [0, 1, 2])
        XCTAssertTrue(text.contains("bit 0 `checksum`") && text.contains("bit 1 `device_error`"))
        XCTAssertEqual([FrameFlags.checksum.rawValue, FrameFlags.deviceError.rawValue], [1 << 0, 1 << 1])
    }
}
