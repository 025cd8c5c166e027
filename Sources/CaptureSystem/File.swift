#if canImport(Glibc)
import Glibc
#endif
import CCaptureShim

/// Regular files, for recordings: open(2) (with O_DIRECT), pwrite(2), pread(2), fallocate(2),
/// fdatasync(2). Each failure names the call and the file.
public enum File {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = Flags([])
        public static let writeOnly = Flags(rawValue: O_WRONLY)
        public static let create = Flags(rawValue: O_CREAT)
        /// With `create`: fail if it exists.
        public static let exclusive = Flags(rawValue: O_EXCL)
        public static let append = Flags(rawValue: O_APPEND)
        /// Transfers go between the device and the caller's pages: buffers, offsets and lengths
        /// must be aligned to the filesystem's block size.
        public static let direct = Flags(rawValue: capture_o_direct())
    }

    /// open(2), O_CLOEXEC.
    public static func open(_ path: String, _ flags: Flags, mode: UInt32 = 0o644) throws -> FileDescriptor {
        let fd = try retryingInterrupts("open(\(path))") { capture_open(path, flags.rawValue | O_CLOEXEC, mode) }
        return FileDescriptor(owning: fd)
    }

    /// pwrite(2) until every byte is written (a short write continues where it stopped).
    public static func write(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd.raw, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            // A direct write that stops short with no error is the filesystem running out of room.
            throw SystemError("pwrite(\(fd), \(bytes.count - done) bytes at \(offset + UInt64(done)))", errno: n == 0 ? ENOSPC : errno)
        }
    }

    /// pread(2) until `buffer` is full or the file ends; returns the bytes read.
    public static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd.raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw SystemError("pread(\(fd), \(buffer.count - done) bytes at \(offset + UInt64(done)))")
        }
        return done
    }

    /// fallocate(FALLOC_FL_KEEP_SIZE): blocks reserved ahead, the size unchanged. A filesystem
    /// without fallocate is not an error (nothing is reserved).
    public static func reserve(_ fd: FileDescriptor, offset: UInt64, length: UInt64) throws {
        if capture_fallocate_keep_size(fd.raw, Int64(offset), Int64(length)) == 0 { return }
        if errno == EOPNOTSUPP || errno == ENOSYS { return }
        throw SystemError("fallocate(\(fd), \(length) bytes at \(offset))")
    }

    /// fdatasync(2).
    public static func syncData(_ fd: FileDescriptor) throws {
        try retryingInterrupts("fdatasync(\(fd))") { fdatasync(fd.raw) }
    }
}
