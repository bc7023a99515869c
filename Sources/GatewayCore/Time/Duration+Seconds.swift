/// A duration as fractional seconds, for logs, metrics and timeouts.
extension Duration {
    package var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
