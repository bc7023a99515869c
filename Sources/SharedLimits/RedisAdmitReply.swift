import GatewayCore

/// Reads the admit script's reply (`RedisScript.admit`) into a `KeyAdmission`.
enum RedisAdmitReply {
    /// `nil` when the reply is not one the script gives: the caller treats the store as
    /// broken rather than guess.
    static func admission(from reply: RedisReply, lease: KeyLease?) -> KeyAdmission? {
        guard case .array(let items) = reply, let code = items.first?.integerValue else { return nil }
        switch code {
        case 0:
            guard items.count == 3, let requests = items[1].integerValue, let tokens = items[2].integerValue else {
                return nil
            }
            return .admitted(
                lease: lease, remainingRequests: requests < 0 ? nil : requests, remainingTokens: tokens < 0 ? nil : tokens)
        case 1, 2, 3:
            guard items.count == 2, let retryAfter = items[1].integerValue else { return nil }
            let rule: KeyLimitRule = code == 1 ? .rpm : code == 2 ? .parallel : .tpm
            return .refused(rule, retryAfter: min(max(1, retryAfter), 60))
        default:
            return nil
        }
    }
}
