/// A TOML reader for capture.toml that remembers the line of every key, so configuration
/// errors can say `file:line: key: what is wrong`.
///
/// Why not TOMLKit (which is among the packages we could use): it reports a line only for
/// syntax errors, not for a value that parses but is wrong where it stands (`frame_rate =
/// "fast"`, a slot count out of range), and those are most of the mistakes operators make.
///
/// It reads the TOML that configuration files use: comments, `[table]` and `[a.b]` headers,
/// dotted and quoted keys, basic and literal strings, integers (with `_`, `0x`), floats,
/// booleans, arrays (over several lines too) and inline tables. Arrays of tables (`[[x]]`) and
/// multi-line strings are refused with a clear error.
public struct TOMLValue: Sendable {
    public enum Kind: Sendable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case bool(Bool)
        case array([TOMLValue])
        case table(TOMLTable)
    }
    public var kind: Kind
    public var line: Int

    public var typeName: String {
        switch kind {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}

/// A table in file order.
public struct TOMLTable: Sendable {
    public var line: Int
    public private(set) var keys: [String] = []
    public private(set) var values: [String: TOMLValue] = [:]
    /// Tables created implicitly by a dotted key or header may be reopened by a header.
    var defined = false

    init(line: Int) { self.line = line }

    public subscript(key: String) -> TOMLValue? { values[key] }

    mutating func set(_ key: String, _ value: TOMLValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }
}

public struct TOMLError: Error, CustomStringConvertible, Sendable {
    public let line: Int
    public let message: String
    public var description: String { "line \(line): \(message)" }
}

public enum TOMLReader {
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = Parser(Array(text.unicodeScalars))
        return try parser.document()
    }
}

private struct Parser {
    let s: [Unicode.Scalar]
    var i = 0
    var line = 1

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func fail(_ message: String) -> TOMLError { TOMLError(line: line, message: message) }
    var atEnd: Bool { i >= s.count }
    var peek: Unicode.Scalar? { atEnd ? nil : s[i] }

    mutating func advance() {
        if s[i] == "\n" { line += 1 }
        i += 1
    }

    mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { advance() } }

    mutating func skipComment() {
        if peek == "#" { while let c = peek, c != "\n" { advance() } }
    }

    /// Spaces, comments and newlines (inside arrays).
    mutating func skipAll() {
        while let c = peek {
            if c == " " || c == "\t" || c == "\r" || c == "\n" { advance() } else if c == "#" { skipComment() } else { break }
        }
    }

    mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        skipComment()
        if peek == "\r" { advance() }
        if let c = peek {
            guard c == "\n" else { throw fail("unexpected '\(c)' after the value; one key = value per line") }
            advance()
        }
    }

    mutating func document() throws(TOMLError) -> TOMLTable {
        var root = TOMLTable(line: 1)
        root.defined = true
        var current: [String] = []
        while true {
            skipAll()
            guard let c = peek else { break }
            if c == "[" {
                advance()
                if peek == "[" { throw fail("arrays of tables ([[...]]) are not supported here") }
                skipSpaces()
                let path = try keyPath()
                skipSpaces()
                guard peek == "]" else { throw fail("expected ']' to close the table header") }
                advance()
                try defineTable(&root, path)
                current = path
                try endOfLine()
            } else {
                let keyLine = line
                let path = try keyPath()
                skipSpaces()
                guard peek == "=" else { throw fail("expected '=' after key \(path.joined(separator: "."))") }
                advance()
                skipSpaces()
                let value = try self.value()
                try insert(&root, current + path, value, keyLine: keyLine)
                try endOfLine()
            }
        }
        return root
    }

    mutating func keyPath() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            guard let c = peek else { throw fail("expected a key") }
            if c == "\"" { parts.append(try basicString()) } else if c == "'" { parts.append(try literalString()) } else {
                var key = ""
                while let k = peek, k.properties.isAlphabetic || ("0"..."9").contains(k) || k == "_" || k == "-" {
                    key.unicodeScalars.append(k)
                    advance()
                }
                guard !key.isEmpty else { throw fail("expected a key, found '\(c)'") }
                parts.append(key)
            }
            skipSpaces()
            if peek == "." { advance() } else { return parts }
        }
    }

    func defineTable(_ root: inout TOMLTable, _ path: [String]) throws(TOMLError) {
        try Parser.walk(&root, path[...], line: line) { (table: inout TOMLTable) throws(TOMLError) in
            if table.defined { throw TOMLError(line: line, message: "table [\(path.joined(separator: "."))] is defined twice") }
            table.defined = true
            table.line = line
        }
    }

    func insert(_ root: inout TOMLTable, _ path: [String], _ value: TOMLValue, keyLine: Int) throws(TOMLError) {
        let key = path.last!
        try Parser.walk(&root, path.dropLast(), line: keyLine) { (table: inout TOMLTable) throws(TOMLError) in
            if let old = table[key] {
                throw TOMLError(line: keyLine, message: "key \(path.joined(separator: ".")) is already set on line \(old.line)")
            }
            table.set(key, TOMLValue(kind: value.kind, line: keyLine))
        }
    }

    /// Descends (creating implicit tables) and applies `body` to the table at `path`.
    static func walk(_ table: inout TOMLTable, _ path: ArraySlice<String>, line: Int,
                     _ body: (inout TOMLTable) throws(TOMLError) -> Void) throws(TOMLError) {
        guard let first = path.first else { return try body(&table) }
        var child: TOMLTable
        if let existing = table[first] {
            guard case .table(let t) = existing.kind else {
                throw TOMLError(line: line, message: "\(first) is \(existing.typeName) (line \(existing.line)), not a table")
            }
            child = t
        } else {
            child = TOMLTable(line: line)
        }
        try walk(&child, path.dropFirst(), line: line, body)
        table.set(first, TOMLValue(kind: .table(child), line: table[first]?.line ?? line))
    }

    mutating func value() throws(TOMLError) -> TOMLValue {
        let start = line
        guard let c = peek else { throw fail("expected a value") }
        switch c {
        case "\"":
            if s.count > i + 2 && s[i + 1] == "\"" && s[i + 2] == "\"" { throw fail("multi-line strings are not supported here") }
            return TOMLValue(kind: .string(try basicString()), line: start)
        case "'":
            return TOMLValue(kind: .string(try literalString()), line: start)
        case "[":
            advance()
            var items: [TOMLValue] = []
            while true {
                skipAll()
                if peek == "]" { advance(); break }
                items.append(try value())
                skipAll()
                if peek == "," { advance(); continue }
                if peek == "]" { advance(); break }
                throw fail("expected ',' or ']' in the array")
            }
            return TOMLValue(kind: .array(items), line: start)
        case "{":
            advance()
            var table = TOMLTable(line: start)
            table.defined = true
            skipSpaces()
            if peek == "}" { advance(); return TOMLValue(kind: .table(table), line: start) }
            while true {
                skipSpaces()
                let path = try keyPath()
                skipSpaces()
                guard peek == "=" else { throw fail("expected '=' in the inline table") }
                advance()
                skipSpaces()
                let v = try value()
                try insert(&table, path, v, keyLine: start)
                skipSpaces()
                if peek == "," { advance(); continue }
                if peek == "}" { advance(); break }
                throw fail("expected ',' or '}' in the inline table")
            }
            return TOMLValue(kind: .table(table), line: start)
        default:
            var word = ""
            while let k = peek, !(k == " " || k == "\t" || k == "\n" || k == "\r" || k == "," || k == "]" || k == "}" || k == "#") {
                word.unicodeScalars.append(k)
                advance()
            }
            return TOMLValue(kind: try scalar(word), line: start)
        }
    }

    func scalar(_ word: String) throws(TOMLError) -> TOMLValue.Kind {
        if word == "true" { return .bool(true) }
        if word == "false" { return .bool(false) }
        if word.isEmpty { throw fail("expected a value") }
        let clean = word.replacingUnderscores()
        if clean.hasPrefix("0x"), let v = Int64(clean.dropFirst(2), radix: 16) { return .integer(v) }
        if let v = Int64(clean) { return .integer(v) }
        if clean.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) || clean == "inf" || clean == "nan", let d = Double(clean) { return .float(d) }
        throw fail("'\(word)' is not a TOML value (strings need quotes)")
    }

    mutating func basicString() throws(TOMLError) -> String {
        advance() // opening quote
        var out = ""
        while true {
            guard let c = peek, c != "\n" else { throw fail("unterminated string") }
            advance()
            if c == "\"" { return out }
            if c == "\\" {
                guard let e = peek else { throw fail("unterminated string") }
                advance()
                switch e {
                case "n": out += "\n"
                case "t": out += "\t"
                case "r": out += "\r"
                case "\\": out += "\\"
                case "\"": out += "\""
                case "u", "U":
                    let n = e == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<n {
                        guard let h = peek, h.properties.isASCIIHexDigit else { throw fail("short \\\(e) escape: \(n) hex digits expected") }
                        hex.unicodeScalars.append(h)
                        advance()
                    }
                    guard let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else { throw fail("bad \\\(e) escape") }
                    out.unicodeScalars.append(u)
                default: throw fail("unknown escape \\\(e)")
                }
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }

    mutating func literalString() throws(TOMLError) -> String {
        advance()
        var out = ""
        while true {
            guard let c = peek, c != "\n" else { throw fail("unterminated string") }
            advance()
            if c == "'" { return out }
            out.unicodeScalars.append(c)
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(unicodeScalars.filter { $0 != "_" }.map(Character.init)) }
}
