import KafkaCompression
import KafkaProtocol
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Feeds one input to the decoder named by `TERN_FUZZ_TARGET`: `requests` (a whole request
/// frame: header, then the body of its API and version) or `records` (a records field: batches
/// checked, records decoded and decompressed). Errors are fine; a trap or a sanitizer report
/// is a bug.
func fuzzOne(_ bytes: UnsafeRawBufferPointer, target: String) {
    var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
    buffer.writeBytes(bytes)
    switch target {
    case "records": _ = try? Decompression.countRecords(buffer)
    default: _ = try? RequestDecoder.decode(buffer)
    }
}

let fuzzTarget: String = {
    guard let v = getenv("TERN_FUZZ_TARGET") else { return "requests" }
    return String(cString: v)
}()

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
        fuzzOne(UnsafeRawBufferPointer(start: data, count: size), target: fuzzTarget)
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point as `<module>_main`: hand control to libFuzzer.
    @_cdecl("TernFuzz_main")
    public func fuzzMain(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> CInt {
        var count = argc
        var args = argv
        return runFuzzerDriver(&count, &args) { data, size in
            fuzzOne(UnsafeRawBufferPointer(start: data, count: size), target: fuzzTarget)
            return 0
        }
    }
#else
    /// Without libFuzzer: replays files (a corpus, or crash inputs) through the same decoder.
    @main struct ReplayInputs {
        static func main() {
            let args = CommandLine.arguments.dropFirst()
            guard !args.isEmpty else {
                print("usage: TERN_FUZZ_TARGET=requests|records tern-fuzz FILE...   (see Fuzz/README.md)")
                return
            }
            for path in args {
                guard let f = fopen(path, "rb") else {
                    print("\(path): cannot open")
                    continue
                }
                var data: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = fread(&chunk, 1, chunk.count, f)
                    if n <= 0 { break }
                    data += chunk[0..<n]
                }
                fclose(f)
                data.withUnsafeBytes { fuzzOne($0, target: fuzzTarget) }
                print("\(path): ok")
            }
        }
    }
#endif
