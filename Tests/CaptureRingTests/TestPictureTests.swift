import CaptureRing
import CaptureSystem
import XCTest

/// The image payload as PROTOCOL.md §6 defines it, pixel by pixel, from the document's words.
final class TestPictureTests: XCTestCase {
    let bars: [[Int]] = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]]

    /// (r, g, b) of pixel (x, y) in frame q, per the document.
    func colour(x: Int, y: Int, q: Int, width: Int, height: Int) -> [Int] {
        let bw = max(1, width / 8), bh = max(1, height / 8)
        let left = (3 * q) % (width - bw + 1), top = q % (height - bh + 1)
        if x >= left && x < left + bw && y >= top && y < top + bh { return [128, 128, 128] }
        return bars[((x + q) % width) * 8 / width]
    }

    func draw(_ format: FrameFormat, q: UInt64) -> [UInt8] {
        var frame = [UInt8](repeating: 0xAA, count: format.frameBytes)
        frame.withUnsafeMutableBytes { _ = FramePattern.drawImage($0, format: format, sequence: q) }
        return frame
    }

    func testGrayRGBAndBayerPixelsAreWhatTheDocumentSays() {
        let w = 37, h = 19, q = 53
        let gray = draw(.image(pixelFormat: "GRAY8", width: w, height: h, stride: 40), q: UInt64(q))
        let rgb = draw(.image(pixelFormat: "BGRx", width: w, height: h, stride: w * 4), q: UInt64(q))
        let bayer = draw(.image(pixelFormat: "rggb", width: w, height: h, stride: w), q: UInt64(q))
        let wide = draw(.image(pixelFormat: "GRAY16_BE", width: w, height: h, stride: w * 2), q: UInt64(q))
        for y in 0..<h {
            for x in 0..<w {
                let c = colour(x: x, y: y, q: q, width: w, height: h)
                let luma = (77 * c[0] + 150 * c[1] + 29 * c[2] + 128) >> 8
                XCTAssertEqual(Int(gray[y * 40 + x]), luma, "GRAY8 (\(x), \(y))")
                XCTAssertEqual(rgb[(y * w + x) * 4 ..< (y * w + x) * 4 + 4].map(Int.init), [c[2], c[1], c[0], 0], "BGRx (\(x), \(y))")
                let cfa = ["R", "G", "G", "B"][(y % 2) * 2 + x % 2]
                XCTAssertEqual(Int(bayer[y * w + x]), cfa == "R" ? c[0] : cfa == "G" ? c[1] : c[2], "rggb (\(x), \(y))")
                XCTAssertEqual(Int(wide[(y * w + x) * 2]) << 8 | Int(wide[(y * w + x) * 2 + 1]), luma * 257, "GRAY16_BE (\(x), \(y))")
            }
            XCTAssertEqual(gray[y * 40 + w ..< y * 40 + 40].filter { $0 != 0 }, [], "stride padding is 0")
        }
    }

    func testEveryFrameIsItsOwnAndChecksOut() {
        let format = FrameFormat.image(pixelFormat: "RGB", width: 320, height: 240, stride: 960)
        var a = draw(format, q: 1), b = draw(format, q: 2)
        XCTAssertNotEqual(a, b, "the picture moves")
        let crc = a.withUnsafeMutableBytes { FramePattern.drawImage($0, format: format, sequence: 1) }
        XCTAssertEqual(crc, a.withUnsafeBytes { FramePattern.crc32($0) })
        XCTAssertNil(a.withUnsafeBytes { FramePattern.firstImageMismatch($0, format: format, sequence: 1) })
        XCTAssertNotNil(b.withUnsafeBytes { FramePattern.firstImageMismatch($0, format: format, sequence: 1) })
        b[12345] ^= 1
        XCTAssertEqual(b.withUnsafeBytes { FramePattern.firstImageMismatch($0, format: format, sequence: 2) }, 12345)
    }
}
