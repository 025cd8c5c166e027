import CaptureProtocol

enum CodecFuzz {
    static func run(_ data: [UInt8]) {
        guard let message = try? Message.decode(data) else { return }
        let encoded = message.encode()
        precondition(encoded.count <= CaptureProtocol.maxMessageBytes, "encoded a message longer than the protocol allows")
        let again: Message
        do { again = try Message.decode(encoded) } catch { preconditionFailure("a decoded message re-encodes to bytes that do not decode: \(error)") }
        precondition(again == message, "decode(encode(m)) != m for \(message.type)")
        precondition(again.encode() == encoded, "encoding is not stable")
    }
}
