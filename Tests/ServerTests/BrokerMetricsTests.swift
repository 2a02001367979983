import KafkaProtocol
import Testing

@testable import Broker

/// The metrics' recording and exposition, on one node's registry.
@Suite struct BrokerMetricsTests {
    private func lines(_ m: BrokerMetrics, _ prefix: String) -> [String] {
        m.exposition().split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    @Test func everyFamilyIsDeclaredBeforeAnythingHappens() {
        let m = BrokerMetrics()
        let text = m.exposition()
        for family in MetricCatalogue.families {
            #expect(text.contains("# TYPE \(family.name) \(family.type)\n"), "\(family.name)")
            #expect(text.contains("# HELP \(family.name) \(family.help)\n"), "\(family.name)")
        }
        #expect(MetricCatalogue.families.count >= 40)
        #expect(Set(MetricCatalogue.families.map(\.name)).count == MetricCatalogue.families.count)
        // Every API's request counter starts at zero.
        #expect(lines(m, "tern_requests_total{api=\"Produce\"}") == ["tern_requests_total{api=\"Produce\"} 0"])
    }

    @Test func requestsCountByApiAndLeaveTheQueue() {
        let m = BrokerMetrics()
        m.requestArrived()
        m.requestArrived()
        #expect(lines(m, "tern_requests_in_flight ") == ["tern_requests_in_flight 2.0"])
        m.recordRequest(ApiKey.fetch.rawValue, nanoseconds: 3_000_000, bytes: 100)
        m.requestAbandoned()
        #expect(lines(m, "tern_requests_in_flight ") == ["tern_requests_in_flight 0.0"])
        #expect(lines(m, "tern_requests_total{api=\"Fetch\"}") == ["tern_requests_total{api=\"Fetch\"} 1"])
        #expect(lines(m, "tern_request_bytes_total{api=\"Fetch\"}") == ["tern_request_bytes_total{api=\"Fetch\"} 100"])
        // 3 ms lands in the 5 ms bucket and every one above it, not the 1 ms one.
        #expect(
            lines(m, "tern_request_latency_seconds_bucket{api=\"Fetch\",le=\"0.001\"}").first?.hasSuffix(" 0") == true)
        #expect(
            lines(m, "tern_request_latency_seconds_bucket{api=\"Fetch\",le=\"0.005\"}").first?.hasSuffix(" 1") == true)
        #expect(
            lines(m, "tern_request_latency_seconds_bucket{api=\"Fetch\",le=\"+Inf\"}").first?.hasSuffix(" 1") == true)
        // An API key no version of Kafka has is not counted (and does not trap).
        m.requestArrived()
        m.recordRequest(Int16.max, nanoseconds: Int64.max, bytes: Int.max)
        #expect(lines(m, "tern_requests_in_flight ") == ["tern_requests_in_flight 0.0"])
    }

    @Test func producedRecordsCountPerTopicAndInTotal() {
        let m = BrokerMetrics()
        m.recordProduced("a", records: 10, bytes: 1000)
        m.recordProduced("b", records: 5, bytes: 200)
        m.recordProduced("a", records: 1, bytes: 50)
        #expect(lines(m, "tern_messages_in_total ") == ["tern_messages_in_total 16"])
        #expect(
            lines(m, "tern_topic_messages_in_total{topic=\"a\"}") == ["tern_topic_messages_in_total{topic=\"a\"} 11"])
        #expect(lines(m, "tern_topic_bytes_in_total{topic=\"b\"}") == ["tern_topic_bytes_in_total{topic=\"b\"} 200"])
    }

    @Test func aDeletedTopicsSeriesGoWithIt() {
        let m = BrokerMetrics()
        m.recordProduced("gone", records: 3, bytes: 30)
        m.recordBytesOut("gone", 10)
        m.recordProduced("kept", records: 1, bytes: 1)
        m.forgetTopic("gone")
        #expect(!m.exposition().contains("topic=\"gone\""))
        #expect(m.topicBytesOut["gone"] == nil)
        #expect(lines(m, "tern_topic_messages_in_total{topic=\"kept\"}").count == 1)
        // The broker-wide totals keep what was counted.
        #expect(lines(m, "tern_messages_in_total ") == ["tern_messages_in_total 4"])
        // A topic of the same name made again starts from zero.
        m.recordProduced("gone", records: 2, bytes: 2)
        #expect(
            lines(m, "tern_topic_messages_in_total{topic=\"gone\"}") == [
                "tern_topic_messages_in_total{topic=\"gone\"} 2"
            ])
    }

    @Test func gaugeFamiliesHoldExactlyTheLastReading() {
        let m = BrokerMetrics()
        m.setGauges(
            "tern_log_end_offset",
            [([("topic", "t"), ("partition", "0")], 5), ([("topic", "t"), ("partition", "1")], 7)])
        #expect(lines(m, "tern_log_end_offset{").count == 2)
        // Partition 1 gone (its topic deleted): its series goes too.
        m.setGauges("tern_log_end_offset", [([("topic", "t"), ("partition", "0")], 6)])
        #expect(lines(m, "tern_log_end_offset{") == ["tern_log_end_offset{topic=\"t\",partition=\"0\"} 6.0"])
        // Nothing left: the family is still declared.
        m.setGauges("tern_log_end_offset", [])
        #expect(lines(m, "tern_log_end_offset{").isEmpty)
        #expect(m.exposition().contains("# TYPE tern_log_end_offset gauge\n"))
    }

    @Test func labelValuesAreEscaped() {
        let m = BrokerMetrics()
        m.setGauges("tern_consumer_group_members", [([("group", "a\"b\\c\nd")], 1)])
        #expect(
            lines(m, "tern_consumer_group_members{") == ["tern_consumer_group_members{group=\"a\\\"b\\\\c\\nd\"} 1.0"])
    }

    @Test func carriageReturnLineFeedAndOddValuesStayOnOneLine() {
        let m = BrokerMetrics()
        m.setGauges(
            "tern_consumer_group_members",
            [([("group", "x\r\ny")], .nan), ([("group", "p")], .infinity), ([("group", "m")], -.infinity)])
        #expect(
            lines(m, "tern_consumer_group_members{") == [
                "tern_consumer_group_members{group=\"x\r\\ny\"} NaN",
                "tern_consumer_group_members{group=\"p\"} +Inf",
                "tern_consumer_group_members{group=\"m\"} -Inf",
            ])
    }

    /// 10,000 partitions' four families, read twice: every series once, each family declared
    /// once, the second reading replacing the first.
    @Test func tenThousandPartitionsSeriesAreWrittenOnceEach() {
        let m = BrokerMetrics()
        for round in 0..<2 {
            for family in [
                "tern_log_size_bytes", "tern_log_end_offset", "tern_log_start_offset", "tern_high_watermark",
            ] {
                m.setGauges(
                    family,
                    (0..<10_000).map { ([("topic", "big"), ("partition", "\($0)")], Double($0 + round)) })
            }
        }
        let text = m.exposition()
        let all = text.split(separator: "\n")
        #expect(all.filter { $0.hasPrefix("tern_high_watermark{") }.count == 10_000)
        #expect(all.filter { $0 == "# TYPE tern_high_watermark gauge" }.count == 1)
        #expect(all.contains("tern_log_end_offset{topic=\"big\",partition=\"9999\"} 10000.0"))
        #expect(all.filter { $0.hasPrefix("# TYPE ") }.count == MetricCatalogue.families.count)
    }

    @Test func mirroredCountersOnlyGrow() {
        let m = BrokerMetrics()
        m.advanceCounter("process_cpu_seconds_total", [], to: 1.5)
        m.advanceCounter("process_cpu_seconds_total", [], to: 1.0)
        m.advanceCounter("process_cpu_seconds_total", [], to: 2.5)
        #expect(lines(m, "process_cpu_seconds_total ") == ["process_cpu_seconds_total 2.5"])
    }
}
