import Storage

#if canImport(Glibc)
    import Glibc
#endif

/// The process's CPU time, memory and file descriptors, read from /proc (Linux); zeros where
/// /proc is not there.
struct ProcessStats {
    var cpuSeconds = 0.0
    var residentBytes = 0.0
    var virtualBytes = 0.0
    var openFds = 0.0
    var maxFds = 0.0
    var startTimeSeconds = 0.0

    /// When this process started, in Unix seconds: the boot time (`btime` of /proc/stat) plus
    /// the start time in /proc/self/stat (field 22, clock ticks after boot); now, where /proc
    /// does not say.
    static let startedAt: Double = {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if ticks > 0, let stat = text("/proc/self/stat"), let close = stat.lastIndex(of: ")"),
            let procStat = text("/proc/stat"),
            let bootLine = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(bootLine.dropFirst(6).trimmingPrefix(" "))
        {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 19, let start = Double(fields[19]) { return boot + start / ticks }
        }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }()

    static func read() -> ProcessStats {
        var s = ProcessStats()
        s.startTimeSeconds = startedAt
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: fields after the command's closing parenthesis; utime and stime are
        // fields 14 and 15, vsize 23 and rss (pages) 24 of the whole line.
        if let stat = text("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> Double { n - 3 < fields.count ? Double(fields[n - 3]) ?? 0 : 0 }
            if ticks > 0 { s.cpuSeconds = (field(14) + field(15)) / ticks }
            s.virtualBytes = field(23)
            s.residentBytes = field(24) * page
        }
        let limit = Descriptors.limit()
        if limit != .max { s.maxFds = Double(limit) }
        if let n = Descriptors.open() { s.openFds = Double(n) }
        return s
    }

    private static func text(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > 65536 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
