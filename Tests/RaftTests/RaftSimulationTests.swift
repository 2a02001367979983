import Glibc
import Raft
import Testing

/// Seeds for a run: `RAFT_SEED=n` reruns one; `RAFT_SEEDS=n` sets how many per configuration.
func seeds(_ salt: UInt64) -> [UInt64] {
    if let one = getenv("RAFT_SEED").flatMap({ UInt64(String(cString: $0)) }) { return [one] }
    let count = getenv("RAFT_SEEDS").flatMap { Int(String(cString: $0)) } ?? 500
    return (0..<UInt64(count)).map { $0 &* 7919 &+ salt }
}

@Suite struct RaftSimulationTests {
    func runAll(_ seeds: [UInt64], _ options: Simulation.Options) -> [String] {
        var failures: [String] = []
        for seed in seeds {
            var sim = Simulation(seed: seed, options: options)
            do { try sim.run() } catch { failures.append("\(error)") }
            if failures.count >= 5 { break }
        }
        return failures
    }

    @Test func threeVotersStaySafeAndLiveUnderFaults() {
        var o = Simulation.Options()
        o.nodes = 3
        let failures = runAll(seeds(3), o)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func fiveVotersStaySafeAndLiveUnderFaults() {
        var o = Simulation.Options()
        o.nodes = 5
        o.dropRate = 0.1
        o.duplicateRate = 0.05
        let failures = runAll(seeds(5), o)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
