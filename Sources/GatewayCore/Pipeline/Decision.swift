/// What the gateway does with one request, decided before any byte goes upstream.
public struct Decision: Sendable {
    public enum Action: Sendable {
        /// The gateway answers itself.
        case answer(BuiltInRoute)
        /// `/key/info`: the gateway describes this key.
        case describe(VirtualKey)
        /// `/spend/logs`: the gateway answers from its ledger.
        case spendLogs(SpendLogsAsk)
        /// Refused: the gateway answers with this error and contacts no upstream.
        case refuse(GatewayError)
        /// Sent to the endpoint's upstream as this request.
        case forward(UpstreamRequest)
    }

    public var route: RequestRecord.Route
    public var caller: Caller
    public var action: Action
    /// The model the request names, for metering: read only when the endpoint meters.
    public var requestModel: String?

    public init(route: RequestRecord.Route, caller: Caller = .anonymous, action: Action, requestModel: String? = nil) {
        self.route = route
        self.caller = caller
        self.action = action
        self.requestModel = requestModel
    }
}
