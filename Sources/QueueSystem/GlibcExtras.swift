@preconcurrency import Glibc

/// A Glibc function that Swift's Glibc module does not declare (it needs `_GNU_SOURCE` or
/// `<malloc.h>`), looked up by name at run time; nil where this C library lacks it. Wraps `dlsym(3)`.
func undeclaredGlibcFunction<F>(_ name: String, as type: F.Type) -> F? {
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: F.self) }
}
