// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "EvenTicket",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "eventicket", targets: ["EvenTicketCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Message contracts: commands, events and the envelope. No I/O.
        .target(name: "EvenTicketContracts"),
        // PostgreSQL plumbing shared by every service: DATABASE_URL parsing, migrations, error codes.
        .target(
            name: "Database",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Only for the pool's own error type, which PostgresClient throws as it is.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The PostgreSQL-backed message bus: outbox publish, batched claims, retries, dead letters.
        .target(
            name: "MessageBus",
            dependencies: [
                "EvenTicketContracts", "Database",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The order saga as a pure state machine: event in, actions out.
        .target(name: "OrderSaga", dependencies: ["EvenTicketContracts"]),
        // The orchestrator worker: runs the state machine against the saga store and the bus.
        .target(
            name: "Orchestrator",
            dependencies: ["OrderSaga", "EvenTicketContracts", "MessageBus", "Database", "Ordering",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // Participants: each owns its schema and talks only through the bus.
        .target(name: "Inventory", dependencies: ["EvenTicketContracts", "MessageBus", "Database"]),
        .target(name: "Invoicing", dependencies: ["EvenTicketContracts", "MessageBus", "Database"]),
        .target(name: "Payment", dependencies: ["EvenTicketContracts", "MessageBus", "Database"]),
        // API access tokens: roles, hashed storage, creation and lookup.
        .target(
            name: "Access",
            dependencies: [
                "Database",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The ordering service: orders and their status.
        .target(name: "Ordering", dependencies: ["EvenTicketContracts", "MessageBus", "Database"]),
        // The public HTTP API (Hummingbird).
        .target(
            name: "HTTPAPI",
            dependencies: ["Access", "Ordering", "Inventory", "Orchestrator", "OrderSaga", "MessageBus", "Database",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras")]
        ),
        // The composition root: which consumers and services a process runs. Shared by the CLI and the tests.
        .target(
            name: "EvenTicketApp",
            dependencies: [
                "EvenTicketContracts", "HTTPAPI", "Orchestrator", "Inventory", "Invoicing", "Payment", "Ordering", "MessageBus", "Database",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // A throwaway local PostgreSQL server, for `eventicket dev`, tests and benchmarks.
        .target(name: "EmbeddedPostgres", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // `eventicket bench`: spawns the system, drives orders through the HTTP API, measures.
        .target(
            name: "LoadGenerator",
            dependencies: [
                "Access", "Database", "EmbeddedPostgres",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "EvenTicketCLI",
            dependencies: [
                "EvenTicketApp", "Access", "HTTPAPI", "Orchestrator", "Inventory", "Ordering", "OrderSaga",
                "EmbeddedPostgres", "Database", "MessageBus", "LoadGenerator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "EvenTicketTesting",
            dependencies: ["EmbeddedPostgres", "Database", .product(name: "Logging", package: "swift-log"),
                           .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(name: "OrderSagaTests", dependencies: ["OrderSaga"]),
        .testTarget(name: "LoadGeneratorTests", dependencies: ["LoadGenerator"]),
        .testTarget(
            name: "EvenTicketTests",
            dependencies: [
                "EvenTicketTesting", "EvenTicketApp", "Access", "HTTPAPI", "OrderSaga", "Orchestrator", "Inventory", "Invoicing", "Payment",
                "Ordering", "MessageBus", "Database",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)
