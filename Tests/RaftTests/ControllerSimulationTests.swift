import Glibc
import Testing

/// Seeds for the controller simulation: `CONTROLLER_SEED=n` reruns one, `CONTROLLER_SEEDS=n`
/// sets how many (1,000 by default, every CI run).
func controllerSeeds() -> [UInt64] {
    if let one = getenv("CONTROLLER_SEED").flatMap({ UInt64(String(cString: $0)) }) { return [one] }
    let count = getenv("CONTROLLER_SEEDS").flatMap { Int(String(cString: $0)) } ?? 1000
    return (0..<UInt64(count)).map { $0 &* 104_729 &+ 11 }
}

@Suite struct ControllerSimulationTests {
    /// Every metadata change is answered within its deadline through kill -9 of the active
    /// controller, controlled shutdowns, restarts from snapshots and isolated nodes; once the
    /// faults stop, every change completes, every broker is unfenced and every ISR is whole.
    /// The seeds run in four shares, in parallel.
    @Test(arguments: 0..<4) func everyMetadataChangeCompletesOrFailsByItsDeadline(share: Int) {
        let all = controllerSeeds()
        let seeds = all.indices.filter { $0 % 4 == share }.map { all[$0] }
        var failures: [String] = []
        var answered = 0
        var completed = 0
        var slowest: Int64 = 0
        var snapshotsLoaded = 0
        var isrChanges = 0
        for seed in seeds {
            var sim = ControllerSimulation(seed: seed)
            do { try sim.run() } catch { failures.append("\(error)") }
            answered += sim.answeredCount
            completed += sim.completed
            slowest = max(slowest, sim.slowestMs)
            snapshotsLoaded += sim.snapshotsLoaded
            isrChanges += sim.isrChanges
            if failures.count >= 3 { break }
        }
        print(
            "controller simulation, share \(share): \(seeds.count) of \(all.count) seeds: \(answered) CreateTopics answered (\(completed) created), slowest \(slowest) ms; \(isrChanges) ISR changes committed; \(snapshotsLoaded) restarts from a snapshot"
        )
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
        #expect(completed > seeds.count && isrChanges > seeds.count && (snapshotsLoaded > 0 || seeds.count < 5))
    }
}
