// swift-tools-version:6.0
import PackageDescription

// Layers, lowest first. An arrow only points down (see DESIGN.md):
// QueueSystem <- QueueStorage <- {JobManager, DLQManager, ConfigManager} <- {PostgresStore, Worker, Dashboard} <- CLI <- queuectl
let package = Package(
    name: "queuectl",
    products: [
        .executable(name: "queuectl", targets: ["queuectl"]),
    ],
    targets: [
        // Declarations of glibc functions Swift's Glibc module leaves out; a header, no code.
        .systemLibrary(name: "GlibcExtras"),
        .target(name: "QueueSystem", dependencies: ["GlibcExtras"]),
        .target(name: "QueueStorage", dependencies: ["QueueSystem"]),
        .target(name: "RetryPolicy"),
        .target(name: "JobManager", dependencies: ["QueueStorage", "RetryPolicy", "QueueSystem"]),
        .target(name: "DLQManager", dependencies: ["QueueStorage"]),
        .target(name: "ConfigManager", dependencies: ["QueueStorage"]),
        // The queue in PostgreSQL, through libpq loaded at run time (nothing new is linked).
        .target(name: "PostgresStore", dependencies: ["JobManager", "QueueStorage", "QueueSystem"]),
        .target(name: "Worker", dependencies: ["JobManager", "QueueStorage", "QueueSystem"]),
        .target(name: "Dashboard", dependencies: ["QueueSystem", "QueueStorage", "JobManager", "DLQManager"]),
        .target(name: "CLI", dependencies: [
            "QueueSystem", "QueueStorage", "JobManager", "DLQManager", "ConfigManager", "Worker", "Dashboard", "PostgresStore",
        ]),
        .executableTarget(name: "queuectl", dependencies: ["CLI"]),

        .target(name: "TestSupport", dependencies: ["QueueSystem"], path: "Tests/TestSupport"),
        .testTarget(name: "QueueSystemTests", dependencies: ["QueueSystem", "TestSupport"]),
        .testTarget(name: "QueueStorageTests", dependencies: ["QueueStorage", "QueueSystem", "TestSupport"]),
        .testTarget(name: "PostgresStoreTests", dependencies: [
            "PostgresStore", "JobManager", "DLQManager", "ConfigManager", "QueueStorage", "QueueSystem", "TestSupport",
        ]),
        .testTarget(name: "RetryPolicyTests", dependencies: ["RetryPolicy"]),
        .testTarget(name: "JobManagerTests", dependencies: ["JobManager", "QueueStorage", "QueueSystem", "TestSupport"]),
        .testTarget(name: "ConfigManagerTests", dependencies: ["ConfigManager", "QueueStorage", "TestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "JobManager", "QueueStorage", "QueueSystem"]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "JobManager", "QueueStorage", "QueueSystem"]),
        .testTarget(name: "CLITests", dependencies: ["CLI"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "QueueSystem"]),
    ],
    swiftLanguageModes: [.v6]
)
