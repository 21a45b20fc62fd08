import Testing
import QueueSystem

@Suite struct DynamicLibraryTests {
    @Test func aLoadedLibraryGivesTheAddressesOfItsSymbolsAndNilForOthers() throws {
        let libc = try DynamicLibrary("libc.so.6")
        #expect(libc.address(of: "getpid") != nil)
        #expect(libc.address(of: "queuectl_no_such_function") == nil)
    }

    @Test func aMissingLibraryIsAnErrorInTheLoadersWords() {
        #expect(throws: DynamicLibrary.LoadError.self) { try DynamicLibrary("libqueuectl-missing.so.1") }
        do {
            _ = try DynamicLibrary("libqueuectl-missing.so.1")
        } catch {
            #expect(error.name == "libqueuectl-missing.so.1")
            #expect(error.reason.contains("cannot open shared object file"), "\(error.reason)")
            #expect(error.description == "cannot load libqueuectl-missing.so.1 (\(error.reason))")
        }
    }
}
