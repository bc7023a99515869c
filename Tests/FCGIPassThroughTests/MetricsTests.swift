import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct MetricsTests {
    func sample(route: String = "/r", status: Int = 200, failure: String? = nil) -> RequestRecord {
        var record = RequestRecord(requestID: "r-1", method: "POST")
        var endpoint = TestSupport.endpoint(route)
        endpoint.costPerRequest = 0.5
        record.route = .endpoint(endpoint)
        record.cost = endpoint.costPerRequest  // also on failures: the metrics leave those out
        record.outcome = status < 400 ? .completed(status: status) : .failed(GatewayError(status: status, message: "x"))
        record.failure = failure
        record.cost = status < 400 ? endpoint.costPerRequest : 0
        record.duration = .milliseconds(20)
        record.timeToFirstByte = .milliseconds(10)
        record.bytesIn = 3
        record.bytesOut = 7
        return record
    }

    @Test func countersSurviveTheTextEncodingIncludingAwkwardRouteNames() {
        var counters = MetricCounters()
        counters.requests[.init(route: "/a\tb%\n", method: "GET", status: 200)] = 3
        counters.upstreamErrors[.init(route: "x", kind: "tls")] = 2
        counters.spend[.init(route: "x")] = .init(cost: 1.25)
        counters.bytesIn["x"] = 10
        counters.bytesOut["x"] = 20
        counters.duration["x", default: .init()].observe(0.003)
        counters.timeToFirstByte["x", default: .init()].observe(400)
        counters.inFlight = 4
        counters.threads = 64
        counters.refused = ["busy": 5, "draining": 1]
        #expect(MetricCounters(decoding: counters.encoded()) == counters)
    }

    @Test func mergingAddsEverything() {
        var a = MetricCounters()
        a.requests[.init(route: "r", method: "GET", status: 200)] = 1
        a.duration["r", default: .init()].observe(0.1)
        var b = a
        b.inFlight = 2
        a.merge(b)
        #expect(a.requests.values.first == 2)
        #expect(a.duration["r"]?.count == 2)
        #expect(a.inFlight == 2)
    }

    @Test func workersSharingARegionAddUpAndAReplacementContinuesItsSlot() throws {
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0))
        let second = Metrics(shared: (region, 1))
        for _ in 0..<3 {
            first.requestStarted()
            first.requestFinished(sample())
        }
        second.requestStarted()
        second.requestFinished(sample(status: 502, failure: "connect"))
        first.publish()
        second.publish()
        let text = second.render(version: "t")
        #expect(text.contains(#"fcgi_pass_through_requests_total{method="POST",route="/r",status="200"} 3"#))
        #expect(text.contains(#"fcgi_pass_through_requests_total{method="POST",route="/r",status="502"} 1"#))
        #expect(text.contains(#"fcgi_pass_through_upstream_errors_total{kind="connect",route="/r"} 1"#))
        #expect(text.contains(#"fcgi_pass_through_cost_usd_total{route="/r"} 1.5"#))  // failures cost nothing
        let replacement = Metrics(shared: (region, 0))
        #expect(replacement.render(version: "t").contains(#"status="200"} 3"#))
    }

    @Test func unknownMethodsAreFoldedSoClientsCannotMintLabels() {
        let metrics = Metrics()
        metrics.requestStarted()
        var odd = sample()
        odd.method = "BREW"
        metrics.requestFinished(odd)
        #expect(metrics.render(version: "t").contains(#"method="OTHER""#))
    }

    @Test func refusalsAndTheThreadCapAddUpAcrossWorkers() throws {
        let region = try #require(MetricsRegion.create(slots: 2))
        let first = Metrics(shared: (region, 0), threads: 8)
        let second = Metrics(shared: (region, 1), threads: 8)
        first.requestRefused(.busy)
        second.requestRefused(.busy)
        second.requestRefused(.draining)
        second.publish()
        let text = first.render(version: "t")
        #expect(text.contains("fcgi_pass_through_threads 16\n"))
        #expect(text.contains(#"fcgi_pass_through_requests_refused_total{reason="busy"} 2"#))
        #expect(text.contains(#"fcgi_pass_through_requests_refused_total{reason="draining"} 1"#))
    }

    @Test func workersSeeWhetherASiblingHasAThreadFree() throws {
        let region = try #require(MetricsRegion.create(slots: 3))
        #expect(!region.othersHaveIdleThreads(than: 0))
        region.setIdleThreads(2, slot: 0)
        #expect(!region.othersHaveIdleThreads(than: 0))
        #expect(region.othersHaveIdleThreads(than: 1))
        region.setIdleThreads(0, slot: 0)
        #expect(!region.othersHaveIdleThreads(than: 1))
    }
}
