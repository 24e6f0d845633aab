import EvenTicketTesting
import Foundation
import Testing
@testable import EmbeddedPostgres

/// Throwaway servers whose process was killed are cleaned up by the next one.
///
/// Starting and stopping servers blocks for seconds; it runs off the cooperative pool (see
/// `offThePool`), which the other suites running meanwhile need.
@Suite("Embedded PostgreSQL", .timeLimit(.minutes(2)))
struct EmbeddedPostgresTests {
    /// The id of a process that has exited.
    static func goneProcess() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func isServing(_ server: EmbeddedPostgres) -> Bool {
        FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid")
    }

    static func reap() throws {
        try EmbeddedPostgres.reapAbandoned(
            binDirectory: EmbeddedPostgres.findBinDirectory(), runAsPostgres: getuid() == 0, logger: TestLogger.make())
    }

    @Test func aThrowawayServerWhoseProcessIsGoneIsStoppedAndDeleted() async throws {
        let server = try await offThePool { try EmbeddedPostgres.start(.init(fsync: false), logger: TestLogger.make()) }
        defer { server.stop(immediate: true) }
        #expect(Self.isServing(server))
        // As if its process had been killed before it could stop it.
        try String(Self.goneProcess()).write(toFile: server.baseDirectory + "/" + EmbeddedPostgres.ownerFile, atomically: true, encoding: .utf8)
        try await offThePool { try Self.reap() }
        // A test that starts a throwaway server at this moment reaps the abandoned ones too. If it
        // came first, it may still be deleting the folder when this reap returns (this one found
        // the owner file gone and left the folder to it): wait for the folder to go.
        #expect(try await eventually(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: server.baseDirectory) })
        #expect(!Self.isServing(server))
        // The server is gone, not only its folder: its port takes no connection.
        #expect(throws: EmbeddedPostgresError.self) {
            try EmbeddedPostgres.run(EmbeddedPostgres.findBinDirectory() + "/pg_isready",
                                     ["-h", "127.0.0.1", "-p", String(server.port), "-t", "2"], asPostgres: false)
        }
    }

    @Test func aThrowawayServerOfARunningProcessIsLeftAlone() async throws {
        let server = try await offThePool { try EmbeddedPostgres.start(.init(fsync: false), logger: TestLogger.make()) }
        defer { server.stop(immediate: true) }
        // This process owns it.
        try await offThePool { try Self.reap() }
        #expect(Self.isServing(server))
        try EmbeddedPostgres.run(EmbeddedPostgres.findBinDirectory() + "/pg_isready",
                                 ["-h", "127.0.0.1", "-p", String(server.port), "-t", "5"], asPostgres: false)
    }

    /// A folder for a kept cluster, outside what ``EmbeddedPostgres/reapAbandoned`` looks at,
    /// with a space in its name (the server's options pass through a shell).
    static func keptFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("eventicket-test kept-\(UUID().uuidString.prefix(8))").path
    }

    @Test func aKeptClusterFolderHoldingOtherFilesIsRefusedAndLeftAsItWas() throws {
        let folder = Self.keptFolder()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "mine".write(toFile: folder + "/notes.txt", atomically: true, encoding: .utf8)
        for fresh in [false, true] {
            // Refused before anything is started.
            #expect(throws: EmbeddedPostgresError.self) {
                try EmbeddedPostgres.start(.init(dataDirectory: folder, fresh: fresh, fsync: false), logger: TestLogger.make())
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["notes.txt"])
        #expect(try String(contentsOfFile: folder + "/notes.txt", encoding: .utf8) == "mine")
        // Not handed to the postgres user either.
        let owner = try FileManager.default.attributesOfItem(atPath: folder + "/notes.txt")[.ownerAccountID] as? NSNumber
        #expect(owner?.uint32Value == getuid())
    }

    @Test func freshDeletesTheClusterOfAKeptFolderAndNothingElse() async throws {
        let folder = Self.keptFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func start(fresh: Bool = false) async throws -> EmbeddedPostgres {
            try await offThePool { try EmbeddedPostgres.start(.init(dataDirectory: folder, fresh: fresh, fsync: false), logger: TestLogger.make()) }
        }
        let first = try await start()
        let marker = first.dataDirectory + "/eventicket-test-marker"
        try "x".write(toFile: marker, atomically: true, encoding: .utf8)
        first.stop(immediate: true)
        // Kept: the same cluster again.
        let again = try await start()
        #expect(FileManager.default.fileExists(atPath: marker))
        again.stop(immediate: true)
        let fresh = try await start(fresh: true)
        defer { fresh.stop(immediate: true) }
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(Self.isServing(fresh))
    }

    @Test func aKeptClusterAnotherRunningProcessStartedIsRefusedAndKeepsServing() async throws {
        let folder = Self.keptFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try await offThePool { try EmbeddedPostgres.start(.init(dataDirectory: folder, fsync: false), logger: TestLogger.make()) }
        defer { first.stop(immediate: true) }
        // As if another process (a `dev --data-dir` in another terminal) had started it.
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/bin/sleep")
        other.arguments = ["60"]
        try other.run()
        // SIGKILL: the test process may ignore SIGTERM, and a child inherits that.
        defer { kill(other.processIdentifier, SIGKILL); other.waitUntilExit() }
        let ownerFile = folder + "/" + EmbeddedPostgres.ownerFile
        try String(other.processIdentifier).write(toFile: ownerFile, atomically: true, encoding: .utf8)
        for fresh in [false, true] {
            // Before, the second start stopped the first server (and `fresh` deleted its cluster).
            await #expect(throws: EmbeddedPostgresError.self) {
                try await offThePool { try EmbeddedPostgres.start(.init(dataDirectory: folder, fresh: fresh, fsync: false), logger: TestLogger.make()) }
            }
        }
        #expect(Self.isServing(first))
        try EmbeddedPostgres.run(EmbeddedPostgres.findBinDirectory() + "/pg_isready",
                                 ["-h", "127.0.0.1", "-p", String(first.port), "-t", "5"], asPostgres: false)
        // Once that process is gone, its server is taken over: stopped and started again.
        try String(Self.goneProcess()).write(toFile: ownerFile, atomically: true, encoding: .utf8)
        let again = try await offThePool { try EmbeddedPostgres.start(.init(dataDirectory: folder, fsync: false), logger: TestLogger.make()) }
        defer { again.stop(immediate: true) }
        #expect(again.port != first.port)
        #expect(Self.isServing(again))
    }
}
