import KafkaProtocol
import Metadata
import Testing

private func acl(
    _ name: String, _ pattern: AclPatternType, _ principal: String, host: String = "*", _ op: AclOperation,
    _ perm: AclPermission = .allow
) -> AclEntry {
    acl(.topic, name, pattern, principal, host: host, op, perm)
}

private func acl(
    _ type: AclResourceType, _ name: String, _ pattern: AclPatternType, _ principal: String, host: String = "*",
    _ op: AclOperation, _ perm: AclPermission = .allow
) -> AclEntry {
    AclEntry(
        resourceType: type.rawValue, resourceName: name, patternType: pattern.rawValue, principal: principal,
        host: host, operation: op.rawValue, permissionType: perm.rawValue)
}

private func index(_ acls: [AclEntry]) -> MetadataImage {
    var img = MetadataImage()
    for (i, a) in acls.enumerated() { img.apply(.acl(a), at: Int64(i)) }
    return img
}

@Suite struct AclAuthorizerTests {
    let strict = AclAuthorizer(superUsers: ["User:admin"], allowEveryoneIfNoAclFound: false)
    let open = AclAuthorizer(superUsers: [], allowEveryoneIfNoAclFound: true)

    func may(
        _ a: AclAuthorizer, _ img: MetadataImage, _ principal: String, _ op: AclOperation, _ type: AclResourceType,
        _ name: String, host: String = "10.0.0.1"
    ) -> Bool {
        a.authorize(principal: principal, host: host, op, type, name, acls: img.acls)
    }

    func may(
        _ a: AclAuthorizer, _ img: MetadataImage, _ principal: String, _ op: AclOperation, _ name: String,
        host: String = "10.0.0.1"
    ) -> Bool {
        may(a, img, principal, op, .topic, name, host: host)
    }

    @Test func literalPrefixedAndWildcardAclsApply() {
        let img = index([
            acl("orders", .literal, "User:alice", .read),
            acl("pay-", .prefixed, "User:bob", .write),
            acl("*", .literal, "User:carol", .describe),
        ])
        #expect(may(strict, img, "User:alice", .read, "orders"))
        #expect(!may(strict, img, "User:alice", .read, "orders2"), "literal is the exact name")
        #expect(!may(strict, img, "User:alice", .write, "orders"))
        #expect(may(strict, img, "User:bob", .write, "pay-in"))
        #expect(may(strict, img, "User:bob", .write, "pay-"))
        #expect(!may(strict, img, "User:bob", .write, "pay"))
        #expect(may(strict, img, "User:carol", .describe, "anything"))
        #expect(!may(strict, img, "User:carol", .read, "anything"))
        #expect(!may(strict, img, "User:dave", .read, "orders"))
    }

    @Test func denyWinsOverAllowAndAllCoversEveryOperation() {
        let img = index([
            acl("t", .literal, "User:*", .all),
            acl("t", .literal, "User:mallory", .write, .deny),
            acl("t", .literal, "User:eve", host: "10.0.0.9", .all, .deny),
        ])
        #expect(may(strict, img, "User:anyone", .write, "t"))
        #expect(may(strict, img, "User:mallory", .read, "t"))
        #expect(!may(strict, img, "User:mallory", .write, "t"))
        #expect(may(strict, img, "User:eve", .read, "t", host: "10.0.0.1"))
        #expect(!may(strict, img, "User:eve", .read, "t", host: "10.0.0.9"), "a DENY for one host")
    }

    @Test func readWriteDeleteAlterImplyDescribeAndAlterConfigsImpliesDescribeConfigs() {
        for op in [AclOperation.read, .write, .delete, .alter] {
            let img = index([acl("t", .literal, "User:alice", op)])
            #expect(may(strict, img, "User:alice", .describe, "t"), "\(op)")
            #expect(!may(strict, img, "User:alice", .describeConfigs, "t"))
        }
        let img = index([acl("t", .literal, "User:alice", .alterConfigs)])
        #expect(may(strict, img, "User:alice", .describeConfigs, "t"))
        #expect(!may(strict, img, "User:alice", .describe, "t"))
        // A DENY of READ does not deny DESCRIBE.
        let both = index([acl("t", .literal, "User:alice", .read, .deny), acl("t", .literal, "User:alice", .write)])
        #expect(may(strict, both, "User:alice", .describe, "t"))
        #expect(!may(strict, both, "User:alice", .read, "t"))
    }

    @Test func superUsersAndTheNoAclRule() {
        let img = index([acl("guarded", .literal, "User:alice", .read)])
        #expect(may(strict, img, "User:admin", .alter, .cluster, aclClusterResourceName))
        #expect(!may(strict, img, "User:alice", .read, "unguarded"), "no ACL and allow.everyone false")
        #expect(may(open, img, "User:alice", .read, "unguarded"), "no ACL and allow.everyone true")
        #expect(!may(open, img, "User:bob", .read, "guarded"), "an ACL exists for the resource")
        #expect(!may(strict, img, "User:alice", .read, .group, "guarded"), "resource types are separate")
    }

    @Test func removingAnAclTakesItOutOfEveryIndex() {
        let a = acl("pre", .prefixed, "User:alice", .read)
        var img = index([a, acl("pre", .prefixed, "User:bob", .read)])
        #expect(may(strict, img, "User:alice", .read, "prefix"))
        img.apply(.removeAcl(a), at: 10)
        #expect(!may(strict, img, "User:alice", .read, "prefix"))
        #expect(may(strict, img, "User:bob", .read, "prefix"))
        #expect(img.acls.count == 1)
        img.apply(.removeAcl(acl("pre", .prefixed, "User:bob", .read)), at: 11)
        #expect(img.acls.count == 0 && img.acls.bytes == 0)
        #expect(img.acls.applying(to: .topic, name: "prefix").isEmpty)
    }

    @Test func aLongNameChecksOnlyThePrefixLengthsInUse() {
        let long = String(repeating: "é", count: 16_000)  // 32,000 bytes
        let img = index([acl(.group, "ab", .prefixed, "User:alice", .read)])
        #expect(!may(strict, img, "User:alice", .read, .group, long))
        #expect(may(strict, img, "User:alice", .read, .group, "ab" + long))
        // A prefix length that falls inside a multi-byte character matches nothing.
        let split = index([acl(.group, "x", .prefixed, "User:alice", .read)])
        #expect(!may(strict, split, "User:alice", .read, .group, long))
    }
}

@Suite struct AclDecisionTests {
    @Test func createValidatesEachAclAndSkipsOnesThatExist() {
        let good = acl("t", .literal, "User:alice", .read)
        let img = index([good])
        let fresh = acl("u", .prefixed, "User:bob", .write, .deny)
        let bad: [AclEntry] = [
            acl(.any, "t", .literal, "User:a", .read),
            acl("t", .match, "User:a", .read),
            acl("t", .literal, "User:a", .any),
            acl("t", .literal, "User:a", .read, .any),
            acl("", .literal, "User:a", .read),
            acl("*", .prefixed, "User:a", .read),
            acl(.cluster, "other", .literal, "User:a", .alter),
            acl("t", .literal, "alice", .read),
            acl("t", .literal, "User:", .read),
            acl("t", .literal, "User:a", host: "", .read),
        ]
        let (records, errors) = ControllerDecisions.createAcls([good, fresh, fresh] + bad, image: img)
        #expect(records == [.acl(fresh)])
        #expect(errors[0] == nil && errors[1] == nil && errors[2] == nil)
        for (i, e) in errors.dropFirst(3).enumerated() {
            #expect(e?.code == .invalidRequest, "bad ACL \(i)")
        }
    }

    @Test func createIsBoundedPerRequestAndInTotal() {
        let many = (0..<1_001).map { acl("t\($0)", .literal, "User:a", .read) }
        let (records, errors) = ControllerDecisions.createAcls(many, image: MetadataImage())
        #expect(records.count == 1_000)
        #expect(errors[1_000]?.code == .invalidRequest)

        var img = MetadataImage()
        for i in 0..<AclIndex.maxCount { img.apply(.acl(acl("t\(i)", .literal, "User:a", .read)), at: Int64(i)) }
        let (none, full) = ControllerDecisions.createAcls([acl("one-more", .literal, "User:a", .read)], image: img)
        #expect(none.isEmpty)
        #expect(full[0]?.code == .policyViolation)
        // An ACL that already exists is still fine on a full cluster.
        let (again, ok) = ControllerDecisions.createAcls([acl("t0", .literal, "User:a", .read)], image: img)
        #expect(again.isEmpty && ok[0] == nil)
    }

    @Test func deleteRemovesEveryMatchOnceAndReportsItPerFilter() throws {
        let a = acl("orders", .literal, "User:alice", .read)
        let b = acl("orders", .literal, "User:bob", .write)
        let c = acl("ord", .prefixed, "User:alice", .read)
        let d = acl(.group, "g", .literal, "User:alice", .read)
        let img = index([a, b, c, d])
        var byAlice = AclFilter()
        byAlice.resourceType = AclResourceType.topic.rawValue
        byAlice.patternType = AclPatternType.any.rawValue
        byAlice.principal = "User:alice"
        var matchOrders = AclFilter()
        matchOrders.resourceType = AclResourceType.topic.rawValue
        matchOrders.resourceName = "orders"
        matchOrders.patternType = AclPatternType.match.rawValue
        var bad = AclFilter()
        bad.operation = 0
        let (records, results) = ControllerDecisions.deleteAcls([byAlice, matchOrders, bad], image: img)
        let removed = records.compactMap { r -> AclEntry? in
            if case .removeAcl(let x) = r { return x }
            return nil
        }
        #expect(Set(removed) == Set([a, b, c]))
        #expect(records.count == 3)
        #expect(try results[0].get().count == 2)
        #expect(try Set(results[1].get()) == Set([a, b, c]))
        if case .failure(let e) = results[2] { #expect(e.code == .invalidRequest) } else { Issue.record("accepted") }
    }

    /// The index's candidates, checked with `matches`, select exactly what a scan of every ACL
    /// selects, for filters of every shape (named or not, ANY, MATCH, PREFIXED, by principal),
    /// before and after removals. Seeded, so a failure repeats.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func indexedFilterCandidatesSelectWhatAFullScanSelects(seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(n))
        }
        let names = ["a", "ab", "abc", "b", "*", "kafka-cluster"]
        let types: [AclResourceType] = [.topic, .group, .cluster, .transactionalId]
        let principals = ["User:alice", "User:bob", "User:*"]
        let ops: [AclOperation] = [.read, .write, .describe, .all]
        var img = MetadataImage()
        var made: [AclEntry] = []
        for i in 0..<400 {
            let a = acl(
                types[next(types.count)], names[next(names.count)], next(2) == 0 ? .literal : .prefixed,
                principals[next(principals.count)], host: next(3) == 0 ? "10.0.0.1" : "*", ops[next(ops.count)],
                next(4) == 0 ? .deny : .allow)
            img.apply(.acl(a), at: Int64(i))
            made.append(a)
        }
        func check() {
            for _ in 0..<300 {
                var f = AclFilter()
                f.resourceType = next(3) == 0 ? AclResourceType.any.rawValue : types[next(types.count)].rawValue
                f.resourceName = next(3) == 0 ? nil : names[next(names.count)] + (next(5) == 0 ? "c" : "")
                f.patternType = [AclPatternType.any, .match, .literal, .prefixed][next(4)].rawValue
                f.principal = next(2) == 0 ? nil : principals[next(principals.count)]
                f.host = next(4) == 0 ? "*" : nil
                f.operation = next(2) == 0 ? AclOperation.any.rawValue : ops[next(ops.count)].rawValue
                f.permissionType = next(2) == 0 ? AclPermission.any.rawValue : AclPermission.allow.rawValue
                let scanned = Set(img.acls.all.filter(f.matches))
                let indexed = img.acls.candidates(for: f).filter(f.matches)
                #expect(Set(indexed) == scanned, "\(f)")
                #expect(indexed.count == scanned.count, "no ACL twice: \(f)")
            }
        }
        check()
        for (i, a) in made.enumerated() where next(2) == 0 { img.apply(.removeAcl(a), at: Int64(1_000 + i)) }
        check()
    }

    @Test func aclRecordsAndSnapshotsRoundTrip() throws {
        let a = acl(
            .transactionalId, String(repeating: "x", count: 300), .prefixed, "User:CN=a,O=b", host: "::1", .write)
        for r in [MetadataRecord.acl(a), .removeAcl(a)] {
            #expect(try MetadataRecord.decode(try r.encoded()) == r)
        }
        let img = index([a, acl("t", .literal, "User:b", .read, .deny)])
        let back = try MetadataImage(snapshot: try img.snapshotBytes())
        #expect(back == img)
        #expect(back.acls.count == 2)
        #expect(AclAuthorizer().authorize(principal: "User:b", host: "h", .read, .topic, "t", acls: back.acls) == false)
    }
}
