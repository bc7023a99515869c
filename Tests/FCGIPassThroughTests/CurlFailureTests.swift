import CCurl
import Foundation
import Testing

@testable import ConfigLoading
@testable import FCGIPassThrough
@testable import FastCGIEdge
@testable import GatewayCore
@testable import GatewayCrypto
@testable import Operations
@testable import UpstreamTransports

@Suite struct CurlFailureTests {
    @Test func resultCodesMapToTheClientFacingCauses() {
        #expect(UpstreamFailure(curlCode: CURLE_COULDNT_RESOLVE_HOST) == .unreachable(.dns))
        #expect(UpstreamFailure(curlCode: CURLE_COULDNT_CONNECT) == .unreachable(.connect))
        #expect(UpstreamFailure(curlCode: CURLE_PEER_FAILED_VERIFICATION) == .unreachable(.tls))
        #expect(UpstreamFailure(curlCode: CURLE_RECV_ERROR) == .unreachable(.reset))
        #expect(UpstreamFailure(curlCode: CURLE_SEND_FAIL_REWIND) == .unreachable(.reset))
        #expect(UpstreamFailure(curlCode: CURLE_WEIRD_SERVER_REPLY) == .unreachable(.protocol))
        #expect(UpstreamFailure(curlCode: CURLE_OPERATION_TIMEDOUT) == .timedOut)
        #expect(UpstreamFailure(curlCode: CURLE_ABORTED_BY_CALLBACK) == .cancelled)
        #expect(UpstreamFailure(curlCode: CURLE_OUT_OF_MEMORY) == .unreachable(.other))
    }
}
