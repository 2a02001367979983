import Security
import Testing

@Suite struct PrincipalMappingTests {
    @Test func defaultKeepsTheSubject() throws {
        let m = try PrincipalMapping.parse("DEFAULT")
        #expect(m == .standard)
        #expect(m.name(for: "CN=alice,OU=clients,O=Tern") == "CN=alice,OU=clients,O=Tern")
    }

    @Test func rulesWithCommasInTheirPatternsAndCaseChanges() throws {
        let m = try PrincipalMapping.parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L,\n DEFAULT")
        #expect(m.rules.count == 3)
        #expect(m.name(for: "CN=serviceuser,OU=ServiceUsers,O=Unknown,C=Unknown") == "serviceuser")
        #expect(m.name(for: "CN=AdminUser,OU=Admin,O=Unknown") == "adminuser@admin")
        // Neither RULE matches the whole subject: DEFAULT names it as it is.
        #expect(m.name(for: "CN=x,O=y") == "CN=x,O=y")
    }

    @Test func upperCaseEscapedSlashAndNoMatch() throws {
        let m = try PrincipalMapping.parse(#"RULE:^CN=([a-z]+)\/ops,.*$/team\/$1/U"#)
        #expect(m.name(for: "CN=bob/ops,O=Tern") == "TEAM/BOB")
        // Without DEFAULT, a subject no rule matches has no name: the connection is refused.
        #expect(m.name(for: "CN=bob,O=Tern") == nil)
        // A match of only part of the subject is no match (Kafka matches the whole name).
        #expect(try PrincipalMapping.parse("RULE:CN=bob/b/").name(for: "CN=bob,O=Tern") == nil)
        // A rule that makes the name empty does not give User:"".
        #expect(try PrincipalMapping.parse("RULE:^.*$//").name(for: "CN=bob") == nil)
    }

    @Test(arguments: [
        ("", "no rules"),
        ("RULE:^CN=(.*)$/$1", "replacement ends without its closing /"),
        ("RULE:^CN=(.*$/$1/", "not a regular expression"),
        ("DEFAULT RULE:a/b/", "expected a comma"),
        ("KERBEROS", "cannot read a rule"),
    ])
    func badRulesAreRefusedWithTheReason(text: String, words: String) {
        do {
            _ = try PrincipalMapping.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect("\(error)".contains(words), "\(text): \(error)")
        }
    }

    @Test func rulesTextIsBounded() {
        #expect(throws: PrincipalMapping.Invalid.self) {
            try PrincipalMapping.parse(String(repeating: "DEFAULT,", count: 3_000))
        }
    }
}
