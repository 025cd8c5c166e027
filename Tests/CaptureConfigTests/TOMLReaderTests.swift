import CaptureConfig
import XCTest

/// The TOML subset capture.toml uses, value by value, and the line of every error.
final class TOMLReaderTests: XCTestCase {
    func value(_ text: String, _ key: String = "k") throws -> TOMLValue.Kind {
        try XCTUnwrap(TOMLReader.parse(text)[key]).kind
    }

    func error(_ text: String) -> TOMLError? {
        do { _ = try TOMLReader.parse(text); return nil } catch { return error }
    }

    func testScalars() throws {
        guard case .string("a\tb\"c\\d\u{e9}\u{1F600}") = try value(#"k = "a\tb\"c\\d\u00e9\U0001F600""#) else { return XCTFail() }
        guard case .string(#"C:\no\escapes"#) = try value(#"k = 'C:\no\escapes'"#) else { return XCTFail() }
        guard case .integer(1_000_000) = try value("k = 1_000_000") else { return XCTFail() }
        guard case .integer(-42) = try value("k = -42") else { return XCTFail() }
        guard case .integer(0xff) = try value("k = 0xff") else { return XCTFail() }
        guard case .float(2.5) = try value("k = 2.5") else { return XCTFail() }
        guard case .float(1e3) = try value("k = 1e3") else { return XCTFail() }
        guard case .bool(true) = try value("k = true") else { return XCTFail() }
        guard case .bool(false) = try value("k = false  # a comment") else { return XCTFail() }
    }

    func testArraysOverSeveralLinesAndInlineTables() throws {
        guard case .array(let items) = try value("k = [\n  1, # one\n  2,\n]\n") else { return XCTFail() }
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items.map(\.line), [2, 3])
        guard case .table(let t) = try value("k = { a = 1, b = \"x\" }") else { return XCTFail() }
        XCTAssertEqual(t.keys, ["a", "b"])
    }

    func testTablesDottedAndQuotedKeysKeepOrderAndLines() throws {
        let root = try TOMLReader.parse("""
            # comment
            [a]
            x = 1

            [a.b]
            "quoted key" = 2
            c.d = 3
            """)
        XCTAssertEqual(root.keys, ["a"])
        guard case .table(let a) = try XCTUnwrap(root["a"]).kind else { return XCTFail() }
        XCTAssertEqual(a.keys, ["x", "b"])
        XCTAssertEqual(a["x"]?.line, 3)
        guard case .table(let b) = try XCTUnwrap(a["b"]).kind else { return XCTFail() }
        XCTAssertEqual(b["quoted key"]?.line, 6)
        guard case .table(let c) = try XCTUnwrap(b["c"]).kind, case .integer(3) = try XCTUnwrap(c["d"]).kind else { return XCTFail() }
    }

    func testEveryErrorSaysItsLine() {
        let cases: [(String, Int, String)] = [
            ("a = 1\na = 2\n", 2, "already set on line 1"),
            ("[t]\n[t]\n", 2, "defined twice"),
            ("x = 1\n[[t]]\n", 2, "arrays of tables"),
            ("x = \"\"\"\nmulti\n\"\"\"\n", 1, "multi-line strings"),
            ("\n\nx = \"open\n", 3, "unterminated string"),
            ("x = 'open\n", 1, "unterminated string"),
            ("x = \"\\q\"\n", 1, "unknown escape"),
            ("x = \"\\u12\"\n", 1, "escape"),
            ("x = bare\n", 1, "strings need quotes"),
            ("x = 1 2\n", 1, "one key = value per line"),
            ("x =\n", 1, "expected a value"),
            ("= 1\n", 1, "expected a key"),
            ("x 1\n", 1, "expected '='"),
            ("[t\n", 1, "expected ']'"),
            ("x = [1, 2\n", 2, "expected ',' or ']'"),
            ("x = { a = 1\n", 1, "inline table"),
            ("a = 1\na.b = 2\n", 2, "not a table"),
        ]
        for (text, line, fragment) in cases {
            guard let e = error(text) else { XCTFail("accepted: \(text.debugDescription)"); continue }
            XCTAssertEqual(e.line, line, "\(text.debugDescription): \(e)")
            XCTAssertTrue(e.message.contains(fragment), "\(text.debugDescription): \(e)")
        }
    }
}
