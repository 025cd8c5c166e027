/// Little-endian encoding helpers for protocol messages.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
}

struct WireReader {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func take<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(ProtocolError) -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw .malformed("message ends inside field \(field)") }
        var v: T = 0
        for i in 0..<n { v |= T(bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }

    mutating func u8(_ f: String) throws(ProtocolError) -> UInt8 { try take(UInt8.self, f) }
    mutating func u16(_ f: String) throws(ProtocolError) -> UInt16 { try take(UInt16.self, f) }
    mutating func u32(_ f: String) throws(ProtocolError) -> UInt32 { try take(UInt32.self, f) }
    mutating func u64(_ f: String) throws(ProtocolError) -> UInt64 { try take(UInt64.self, f) }

    mutating func bytes(_ count: Int, _ field: String) throws(ProtocolError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .malformed("field \(field) claims \(count) bytes, \(remaining) remain") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// The rest of the message as UTF-8 text of at most `maxTextBytes`.
    mutating func text(_ field: String) throws(ProtocolError) -> String {
        guard remaining <= CaptureProtocol.maxTextBytes else {
            throw .malformed("\(field) of \(remaining) bytes (at most \(CaptureProtocol.maxTextBytes))")
        }
        guard let s = String(validating: rest(), as: UTF8.self) else { throw .malformed("\(field) is not UTF-8") }
        return s
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
