import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct RouterTests {
    typealias E = TestSupport

    static let endpoints: [Endpoint] = [
        E.endpoint("/v1/rerank", id: "rerank"),
        E.endpoint("/v1", id: "v1", includeSubpath: true),
        E.endpoint("/v1/rerank/admin", id: "admin"),
        E.endpoint("/files", target: "https://read.test/f", id: "files-get", includeSubpath: true, methods: ["GET"]),
        E.endpoint("/files", target: "https://write.test/f", id: "files-post", includeSubpath: true, methods: ["POST"]),
        E.endpoint("/only-post", id: "only-post", methods: ["POST"]),
        E.endpoint("/mixed", id: "mixed-get", includeSubpath: true, methods: ["GET"]),
        E.endpoint("/mixed", id: "mixed-post", methods: ["POST"]),
        E.endpoint("/api", id: "api", includeSubpath: true),
        E.endpoint("/api/files", id: "api-files", includeSubpath: true, methods: ["GET"]),
        E.endpoint("/v2/my files", id: "spaced", includeSubpath: true),
    ]

    /// `"id"` / `"id+subpath"` for a match, `"405:A,B"`, or `"404"`.
    static func describe(_ match: Router.Match) -> String {
        switch match {
        case .endpoint(let endpoint, let subpath): (endpoint.id ?? "?") + (subpath.map { "+" + $0 } ?? "")
        case .methodNotAllowed(let allow): "405:" + allow.joined(separator: ",")
        case .notFound: "404"
        }
    }

    static let cases: [(path: String, method: String, expected: String)] = [
        // Exact, and subpath at a segment boundary only.
        ("/v1/rerank", "POST", "rerank"),
        ("/v1/rerankX", "POST", "v1+rerankX"),
        ("/v1/rerank-admin", "GET", "v1+rerank-admin"),
        ("/v1/rerank/", "POST", "v1+rerank/"),
        ("/v1/rerank/admin", "POST", "admin"),
        ("/v1/rerank/admin/", "POST", "v1+rerank/admin/"),
        ("/v1/rerank/admin/x", "POST", "v1+rerank/admin/x"),
        ("/v1/rerank/other", "GET", "v1+rerank/other"),
        ("/v1", "GET", "v1"),
        ("/v1/", "GET", "v1+"),
        ("/v1/a/b/", "GET", "v1+a/b/"),
        ("/v1x", "GET", "404"),
        // Matching is on the decoded path; the subpath stays raw.
        ("/v1/%72erank", "POST", "rerank"),
        ("/v1/caf%C3%A9/x%20y", "GET", "v1+caf%C3%A9/x%20y"),
        ("/v2/my%20files/a%20b", "GET", "spaced+a%20b"),
        ("/v2/my files", "GET", "spaced"),
        // Case-sensitive paths and methods (RFC 9110 §4.2.3, §9.1).
        ("/V1/RERANK", "POST", "404"),
        ("/v1/rerank", "post", "405:DELETE,GET,PATCH,POST,PUT"),
        ("/v1/rerank", "HEAD", "405:DELETE,GET,PATCH,POST,PUT"),
        ("/v1/rerank", "OPTIONS", "405:DELETE,GET,PATCH,POST,PUT"),
        // Same path, different methods and targets.
        ("/files", "GET", "files-get"),
        ("/files/a/b", "GET", "files-get+a/b"),
        ("/files/a/b", "POST", "files-post+a/b"),
        ("/files/a", "DELETE", "405:GET,POST"),
        ("/files", "PUT", "405:GET,POST"),
        // Only the entries that match the request's shape count.
        ("/mixed", "POST", "mixed-post"),
        ("/mixed/x", "GET", "mixed-get+x"),
        ("/mixed/x", "POST", "405:GET"),
        ("/mixed", "DELETE", "405:GET,POST"),
        ("/only-post", "GET", "405:POST"),
        ("/only-post/x", "POST", "404"),
        // The longest route decides; no fallback to a shorter one for another method.
        ("/api/files/x", "GET", "api-files+x"),
        ("/api/files/x", "POST", "405:GET"),
        ("/api/filesX", "POST", "api+filesX"),
        ("/api/other", "POST", "api+other"),
        ("/", "GET", "404"),
        ("/nothing", "GET", "404"),
    ]

    @Test(arguments: cases)
    func matches(path: String, method: String, expected: String) throws {
        let router = Router(endpoints: Self.endpoints)
        #expect(Self.describe(router.match(try RequestPath(raw: path[...]), method: method)) == expected)
    }

    @Test func fileOrderDoesNotMatter() throws {
        let forward = Router(endpoints: Self.endpoints)
        let reversed = Router(endpoints: Self.endpoints.reversed())
        for row in Self.cases {
            let path = try RequestPath(raw: row.path[...])
            #expect(Self.describe(forward.match(path, method: row.method)) == Self.describe(reversed.match(path, method: row.method)))
        }
    }

    @Test func sameMethodSplitGoesToDifferentTargets() throws {
        let router = Router(endpoints: Self.endpoints)
        let path = try RequestPath(raw: "/files/x")
        guard case .endpoint(let get, _) = router.match(path, method: "GET"),
            case .endpoint(let post, _) = router.match(path, method: "POST")
        else { Issue.record("no match"); return }
        #expect(get.target.authority == "read.test")
        #expect(post.target.authority == "write.test")
    }

    @Test(arguments: [
        ("/", "root"), ("/anything", "root+anything"), ("/a/b/", "root+a/b/"), ("/v9/x", "root+v9/x"),
        ("/special", "special"), ("/special/x", "root+special/x"),
    ])
    func rootRouteWithSubpathMatchesEveryPath(path: String, expected: String) throws {
        let router = Router(endpoints: [
            E.endpoint("/", id: "root", includeSubpath: true), E.endpoint("/special", id: "special"),
        ])
        #expect(Self.describe(router.match(try RequestPath(raw: path[...]), method: "GET")) == expected)
    }

    @Test func rootRouteWithoutSubpathMatchesOnlyRoot() throws {
        let router = Router(endpoints: [E.endpoint("/", id: "root")])
        #expect(Self.describe(router.match(try RequestPath(raw: "/"), method: "GET")) == "root")
        #expect(Self.describe(router.match(try RequestPath(raw: "/x"), method: "GET")) == "404")
    }

    @Test func noEndpointsFindsNothing() throws {
        #expect(Router(endpoints: []).match(try RequestPath(raw: "/"), method: "GET") == .notFound)
    }

    @Test func matchErrors() {
        #expect(Router.Match.notFound.error?.status == 404)
        let notAllowed = Router.Match.methodNotAllowed(allow: ["GET", "POST"]).error
        #expect(notAllowed?.status == 405)
        #expect(notAllowed?.headers["allow"] == "GET, POST")
        #expect(Router.Match.endpoint(Self.endpoints[0], subpath: nil).error == nil)
    }
}
