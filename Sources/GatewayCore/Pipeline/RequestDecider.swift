import Foundation

/// The decision step of the pipeline: path → built-in route | refusal | upstream request.
///
/// Built once per config and swapped whole on reload. It does no I/O of its own: the
/// only effect is reading the request body from its source, and that happens only once
/// routing, authentication and the key's route check have accepted the request, so a
/// refused upload is never read (AUTH-05). Everything else the gateway does with a
/// request (limits, relaying, logging, metrics) follows from the `Decision`.
public struct RequestDecider: Sendable {
    public let config: GatewayConfig
    public let router: Router
    public let authenticator: Authenticator
    public let rewriter: RequestRewriter

    public init(config: GatewayConfig) {
        self.config = config
        self.router = Router(endpoints: config.endpoints)
        self.authenticator = Authenticator(config: config)
        self.rewriter = RequestRewriter(config: config)
    }

    /// The request's fate, in pipeline order: one path view, built-in routes, route
    /// match, authentication, the key's routes, body, the key's models, rewrite.
    public func decide(_ request: GatewayRequest, now: Date = Date()) -> Decision {
        let path: RequestPath
        do {
            path = try RequestPath(raw: request.rawPath)
        } catch {
            return Decision(route: .unmatched, action: .refuse(error))
        }
        if let builtIn = BuiltInRoute.byPath[path.decoded] {
            let route = RequestRecord.Route.builtIn(path: path.decoded)
            guard BuiltInRoute.methods.contains(request.method) else {
                return Decision(route: route, action: .refuse(BuiltInRoute.methodNotAllowed))
            }
            switch builtIn {
            case .keyInfo: return KeyInfoRequest.decide(request, route: route, authenticator: authenticator, now: now)
            case .spendLogs: return SpendLogsRequest.decide(request, route: route, authenticator: authenticator, now: now)
            default: break
            }
            return Decision(route: route, action: .answer(builtIn))
        }
        let match = router.match(path, method: request.method)
        guard case .endpoint(let endpoint, let subpath) = match else {
            return Decision(route: .unmatched, action: .refuse(match.error ?? .noRoute))
        }
        let route = RequestRecord.Route.endpoint(endpoint)
        let caller: Caller
        switch authenticator.authenticate(request.headers, for: endpoint, now: now) {
        case .success(let authenticated): caller = authenticated
        case .failure(let refusal): return Decision(route: route, action: .refuse(refusal))
        }
        if let refusal = authenticator.mayCall(caller, path: path) {
            return Decision(route: route, caller: caller, action: .refuse(refusal))
        }
        do {
            let loaded = try request.loadingBody()
            if let refusal = authenticator.mayUseModels(caller, path: path, request: loaded) {
                return Decision(route: route, caller: caller, action: .refuse(refusal))
            }
            let upstream = try rewriter.rewrite(loaded, endpoint: endpoint, subpath: subpath)
            let model =
                endpoint.usageFormat == .none
                ? nil : RequestModels.metered(path: path, headers: loaded.headers, body: loaded.body)
            return Decision(route: route, caller: caller, action: .forward(upstream), requestModel: model)
        } catch {
            return Decision(route: route, caller: caller, action: .refuse(error))
        }
    }
}
