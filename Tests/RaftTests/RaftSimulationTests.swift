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
    /// Runs every seed; returns the failures and how many snapshots were taken and installed
    /// from a leader over all of them (so the snapshot path is known to have been exercised).
    func runAll(_ seeds: [UInt64], _ options: Simulation.Options) -> (
        failures: [String], taken: Int, installed: Int, voterChanges: Int
    ) {
        var failures: [String] = []
        var taken = 0
        var installed = 0
        var changes = 0
        for seed in seeds {
            var sim = Simulation(seed: seed, options: options)
            do { try sim.run() } catch { failures.append("\(error)") }
            taken += sim.snapshotsTaken
            installed += sim.snapshotsInstalled
            changes += sim.voterChangesMade
            if failures.count >= 5 { break }
        }
        print(
            "\(options.nodes) voters and \(options.observers) observers, \(seeds.count) seeds: \(taken) snapshots taken, \(installed) installed from a leader, \(changes) voter changes"
        )
        return (failures, taken, installed, changes)
    }

    @Test func threeVotersAndAnObserverStaySafeAndLiveUnderFaults() {
        var o = Simulation.Options()
        o.nodes = 3
        o.observers = 1
        let (failures, taken, installed, _) = runAll(seeds(3), o)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(taken > 0 && (installed > 0 || seeds(3).count < 50), "snapshots taken \(taken), installed \(installed)")
    }

    @Test func fiveVotersAndTwoObserversStaySafeAndLiveUnderFaults() {
        var o = Simulation.Options()
        o.nodes = 5
        o.observers = 2
        o.dropRate = 0.1
        o.duplicateRate = 0.05
        let (failures, taken, installed, _) = runAll(seeds(5), o)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(taken > 0 && (installed > 0 || seeds(5).count < 50), "snapshots taken \(taken), installed \(installed)")
    }

    /// KIP-853: the leader adds and removes voters (one at a time) every few hundred ms while
    /// nodes crash, restart, lose messages and are partitioned; observers become voters and
    /// voters observers. Safety is checked against every voter set a node may elect with.
    @Test func votersAddedAndRemovedUnderFaultsStaySafeAndLive() {
        for (nodes, observers) in [(3, 1), (2, 2)] {
            var o = Simulation.Options()
            o.nodes = nodes
            o.observers = observers
            o.membershipEveryMs = 400
            let (failures, taken, _, changes) = runAll(seeds(UInt64(11 + nodes)), o)
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
            #expect(taken > 0)
            #expect(changes > seeds(1).count, "only \(changes) voter changes were made")
        }
    }
}
