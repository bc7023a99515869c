// swift-tools-version:6.0
import PackageDescription

// Targets in request order, each importing only those above it (docs/ARCHITECTURE.md):
//
//   GatewayCrypto       libcrypto: SHA-256, HMAC, constant-time comparison, random bytes
//   GatewayCore         pure: HTTP values, config model, routing, auth, rewriting, the
//                       decision a request gets; no C module, no I/O
//   ConfigLoading       libyaml: config.yaml text -> GatewayConfig
//   FastCGIEdge         libfcgi and sockets: requests in, responses out, admission control
//   UpstreamTransports  URLSession and libcurl: an UpstreamRequest out, events back
//   Operations          logs, metrics, signals, shared memory between processes
//   UsageLedger         libsqlite3, libpq: the spend ledger (one row per request) and its
//                       reports, in the host's SQLite file or a shared PostgreSQL
//   SharedLimits        hiredis: the keys' limits counted in Redis, shared by every host
//   FCGIPassThrough     the gateway: serving (decide, relay, record) and the process model
//   fcgi-pass-through   main.swift: wiring only
let package = Package(
    name: "fcgi-pass-through",
    products: [
        .executable(name: "fcgi-pass-through", targets: ["fcgi-pass-through"]),
        .library(name: "FCGIPassThrough", targets: ["FCGIPassThrough"]),
        // What the fuzz targets in Fuzz/ drive directly.
        .library(name: "GatewayCore", targets: ["GatewayCore"]),
        .library(name: "ConfigLoading", targets: ["ConfigLoading"]),
        .library(name: "FastCGIEdge", targets: ["FastCGIEdge"]),
    ],
    targets: [
        // libfcgi (Debian libfcgi-dev). Only FastCGIEdge imports it.
        .systemLibrary(
            name: "CFCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // libyaml (Debian libyaml-dev). Only ConfigLoading imports it.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // libcurl (Debian libcurl4-openssl-dev). Only the curl transport imports it.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // OpenSSL's libcrypto (Debian libssl-dev). Only GatewayCrypto imports it.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // SQLite 3 (Debian libsqlite3-dev). Only UsageLedger imports it.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libpq (Debian libpq-dev). Only UsageLedger imports it.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // hiredis (Debian libhiredis-dev). Only SharedLimits imports it. Found by its
        // header path (<hiredis/hiredis.h>) rather than pkg-config, whose cflags carry a
        // define SwiftPM refuses with a warning on every build.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "GatewayCrypto", dependencies: ["CCrypto"]),
        .target(name: "GatewayCore", dependencies: ["GatewayCrypto"]),
        .target(name: "ConfigLoading", dependencies: ["GatewayCore", "CYAML"]),
        .target(name: "FastCGIEdge", dependencies: ["GatewayCore", "CFCGI"]),
        .target(name: "UpstreamTransports", dependencies: ["GatewayCore", "CCurl"]),
        .target(name: "Operations", dependencies: ["GatewayCore"]),
        .target(name: "UsageLedger", dependencies: ["GatewayCrypto", "GatewayCore", "Operations", "CSQLite", "CLibPQ"]),
        .target(name: "SharedLimits", dependencies: ["GatewayCore", "Operations", "CHiredis"]),
        .target(
            name: "FCGIPassThrough",
            dependencies: [
                "GatewayCrypto", "GatewayCore", "ConfigLoading", "FastCGIEdge", "UpstreamTransports", "Operations",
                "UsageLedger", "SharedLimits",
            ]
        ),
        .executableTarget(
            name: "fcgi-pass-through",
            dependencies: ["FCGIPassThrough"]
        ),
        .testTarget(
            name: "FCGIPassThroughTests",
            dependencies: [
                "GatewayCrypto", "GatewayCore", "ConfigLoading", "FastCGIEdge", "UpstreamTransports", "Operations",
                "UsageLedger", "SharedLimits", "FCGIPassThrough", "CCurl", "CHiredis",
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
