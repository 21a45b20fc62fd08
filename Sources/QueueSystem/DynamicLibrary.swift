@preconcurrency import Glibc
import GlibcExtras

/// A shared library loaded at run time, for a client library (libpq) that only some commands need,
/// so that nothing new is linked and a user who never needs it never needs it installed.
///
/// The library is never unloaded: pointers looked up in it stay valid for the rest of the process,
/// so they may be kept in a global while this value (holding the raw handle, not Sendable) is not.
package struct DynamicLibrary {
    /// Why a library could not be loaded: its name and the dynamic loader's own words.
    package struct LoadError: Error, Equatable, Sendable, CustomStringConvertible {
        package let name: String
        package let reason: String
        package var description: String { "cannot load \(name) (\(reason))" }
    }

    private let handle: UnsafeMutableRawPointer

    /// Loads the library `name` (as the dynamic loader searches for it) and everything it needs,
    /// resolving every symbol now, so that a missing one fails here and not at some later call.
    /// Wraps `dlopen(3)` with `RTLD_NOW`.
    package init(_ name: String) throws(LoadError) {
        guard let handle = dlopen(name, RTLD_NOW) else {
            throw LoadError(name: name, reason: DynamicLibrary.lastError() ?? "the dynamic loader gave no reason")
        }
        self.handle = handle
    }

    /// The address of `symbol` in the library, or nil when it has none. Wraps `dlsym(3)`.
    package func address(of symbol: String) -> UnsafeMutableRawPointer? {
        dlsym(handle, symbol)
    }

    /// The dynamic loader's message for its last failure on this thread, if it kept one (it may
    /// not), which also clears it. Wraps `dlerror(3)`.
    private static func lastError() -> String? {
        guard let text = dlerror() else { return nil }
        return String(cString: text)
    }
}

extension DynamicLibrary {
    /// True on the process's main thread (its thread id is its pid). In a fully static executable a
    /// loaded library may only be called there: the glibc it brings in sets up its per-thread state
    /// (the character tables libpq's first `isspace` reads) only for the main thread and threads it
    /// started itself.
    package static var onMainThread: Bool { gettid() == getpid() }

    /// True in an executable started without a dynamic loader, a fully static one: the kernel then
    /// names no interpreter in the auxiliary vector (`AT_BASE` is 0).
    package static let inStaticExecutable = getauxval(7) == 0  // AT_BASE

    /// Whether this thread may call a loaded library: any thread of a dynamically linked process (the
    /// debug build, the test bundle), only the main one of a fully static executable.
    package static var callableOnThisThread: Bool { onMainThread || !inStaticExecutable }
}
