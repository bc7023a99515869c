import GatewayCore

/// Poll event bits Glibc does not export to Swift.

/// POLLRDHUP (Linux); Glibc only exports it under _GNU_SOURCE.
let pollReadHangUp: Int16 = 0x2000
