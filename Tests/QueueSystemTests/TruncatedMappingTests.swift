import Foundation
import Glibc
import Testing
import TestSupport
@testable import QueueSystem

private func temporaryDirectory() -> String {
    var template = Array("/tmp/queuectl-sys-XXXXXX".utf8CString)
    return String(cString: mkdtemp(&template)!)
}

@Suite(.serialized) struct TruncatedMappingTests {
    @Test func pagesLostToATruncationReadAsZerosAndAreReported() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data"
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: UInt8(ascii: "x"), count: 3 * page)))
        let bytes = try #require(try FileBytes.map(path))
        #expect(bytes.bytes[2 * page] == UInt8(ascii: "x"))
        #expect(!bytes.changedUnderMapping)
        let faultsBefore = FileBytes.changesNoticed

        #expect(truncate(path, off_t(page)) == 0)  // in place, as `truncate -s` or `: >` would
        // Without the handler this read is SIGBUS, and the test process dies.
        #expect(bytes.bytes[page] == 0)
        #expect(bytes.bytes[3 * page - 1] == 0)
        #expect(bytes.bytes[0] == UInt8(ascii: "x"), "the page still in the file reads as it is")
        #expect(bytes.changedUnderMapping)
        #expect(FileBytes.changesNoticed >= faultsBefore + 2)  // other tests may run meanwhile

        // Another mapping of the file, whole as it is now, is not affected.
        let again = try #require(try FileBytes.map(path))
        #expect(again.bytes.count == page && !again.changedUnderMapping)
        #expect(again.bytes.allSatisfy { $0 == UInt8(ascii: "x") })
    }

    @Test func aMappingReleasedAndTakenAgainStartsClean() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data"
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for _ in 0..<100 {  // more than there are slots: each is given back
            #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: 2 * page)))
            let bytes = try #require(try FileBytes.map(path))
            #expect(truncate(path, 0) == 0)
            #expect(bytes.bytes[page] == 0)
            #expect(bytes.changedUnderMapping)
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: 2 * page)))
        let clean = try #require(try FileBytes.map(path))
        #expect(!clean.changedUnderMapping)
        #expect(clean.bytes[page] == 1)
    }
}
