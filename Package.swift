// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tern",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tern", targets: ["tern"]),
        .executable(name: "tern-fuzz", targets: ["TernFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // TLS listeners (SSL, SASL_SSL) and TLS to peers.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // SCRAM's HMAC and SHA-256/512.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // One ordered start-up and shutdown of a node's services, with SIGTERM/SIGINT in one place.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Metrics recorded through swift-metrics' API into a Prometheus registry per node.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Hardware CRC-32C (SSE4.2 / ARMv8 CRC) with a portable fallback; the toolchain's clang builds it.
        .target(name: "CCRC32C"),
        // Pure KRaft-style consensus: no clock, sockets or files (the shell hands them in).
        .target(name: "Raft"),
        .target(
            name: "KafkaProtocol",
            dependencies: [
                "CCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The system's zlib, libzstd and liblz4 (Debian's zlib1g-dev, libzstd-dev, liblz4-dev).
        .systemLibrary(
            name: "CCompression",
            providers: [.apt(["zlib1g-dev", "libzstd-dev", "liblz4-dev"])]
        ),
        // Linux calls the Glibc module does not declare (syncfs), from the C library itself.
        .systemLibrary(name: "CLinux"),
        // Record batches' compression codecs (gzip, snappy, lz4, zstd), over the system libraries.
        .target(
            name: "KafkaCompression",
            dependencies: [
                "CCompression", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Cluster metadata records, the image they fold into, and the controller's pure decisions.
        .target(
            name: "Metadata",
            dependencies: [
                "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // SASL mechanisms (PLAIN, SCRAM-SHA-256/512) as pure exchanges: bytes in, bytes out.
        .target(
            name: "Security",
            dependencies: [
                "KafkaProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Storage",
            dependencies: [
                "CLinux", "KafkaProtocol", "KafkaCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KafkaClient",
            dependencies: [
                "KafkaProtocol", "Security",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Broker",
            dependencies: [
                "KafkaProtocol", "KafkaCompression", "Storage", "Metadata", "KafkaClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "Server",
            dependencies: [
                "KafkaProtocol", "Storage", "Broker", "Raft", "Metadata", "KafkaClient", "Security",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tern",
            dependencies: [
                "KafkaProtocol", "KafkaCompression", "KafkaClient", "Server", "Storage", "Security", "Metadata",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // libFuzzer targets over the request and record-batch decoders: see Fuzz/README.md.
        .executableTarget(
            name: "TernFuzz",
            dependencies: ["KafkaProtocol", "KafkaCompression", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/Sources/TernFuzz"),
        .testTarget(
            name: "KafkaProtocolTests", dependencies: ["KafkaProtocol", "KafkaCompression"], exclude: ["Captured"]),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "Metadata", "KafkaProtocol"]),
        .testTarget(name: "MetadataTests", dependencies: ["Metadata", "KafkaProtocol"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "KafkaProtocol", "KafkaCompression"]),
        .testTarget(name: "SecurityTests", dependencies: ["Security", "KafkaProtocol"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "KafkaProtocol", "KafkaClient", "Broker", "Metadata", "Raft",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
