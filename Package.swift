// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fcgi-pass-through",
    products: [
        .executable(name: "fcgi-pass-through", targets: ["fcgi-pass-through"]),
        .library(name: "FCGIPassThrough", targets: ["FCGIPassThrough"]),
    ],
    targets: [
        // libfcgi (Debian libfcgi-dev). Only the FastCGI/ files import it.
        .systemLibrary(
            name: "CFCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // libyaml (Debian libyaml-dev). Only the YAML reader imports it.
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
        .target(
            name: "FCGIPassThrough",
            dependencies: ["CFCGI", "CYAML", "CCurl"]
        ),
        .executableTarget(
            name: "fcgi-pass-through",
            dependencies: ["FCGIPassThrough"]
        ),
        .testTarget(
            name: "FCGIPassThroughTests",
            dependencies: ["FCGIPassThrough"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
