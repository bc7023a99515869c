// swift-tools-version:6.0
// libFuzzer targets for the gateway; see ../README.md ("Development") and ../scripts/fuzz.sh.
// Built apart from the main package so that it stays free of fuzz-only code:
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which differs between clones
// (`main`, a worktree, CI's checkout), so it is derived rather than spelled out.
let gateway = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "fcgi-pass-through-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "GatewayCore", package: gateway)]
        ),
        // YAML text in: ConfigLoader.load(yaml:file:environment:).
        .executableTarget(
            name: "fuzz-config",
            dependencies: [
                "FuzzSupport", .product(name: "ConfigLoading", package: gateway), .product(name: "GatewayCore", package: gateway),
            ]
        ),
        // A response body in: UsageMeter, whole, in pieces and byte by byte.
        .executableTarget(
            name: "fuzz-usage",
            dependencies: ["FuzzSupport", .product(name: "GatewayCore", package: gateway)]
        ),
        // FastCGI params and body in: params -> GatewayRequest -> RequestDecider.decide.
        .executableTarget(
            name: "fuzz-request",
            dependencies: [
                "FuzzSupport", .product(name: "ConfigLoading", package: gateway), .product(name: "FastCGIEdge", package: gateway),
                .product(name: "GatewayCore", package: gateway),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
