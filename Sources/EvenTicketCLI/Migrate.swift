import ArgumentParser
import Database
import EvenTicketApp
import Foundation

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations (every process also does this at start-up).")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(help: "Apply nothing; exit non-zero when a migration is pending.")
    var check = false

    func run() async throws {
        let url = try database.resolve()
        let logger = logging.makeLogger("eventicket.migrate")
        let check = self.check
        try await reportingFailures {
            try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, reachTimeout: .seconds(5)) { client in
                let migrator = try Migrator()
                if check {
                    let pending = try await migrator.pending(on: client, logger: logger)
                    guard pending.isEmpty else {
                        print("pending migrations: \(pending.map(\.name).joined(separator: ", "))")
                        throw ExitCode.failure
                    }
                    print("database is up to date (\(migrator.migrations.count) migrations)")
                } else {
                    let applied = try await migrator.migrate(on: client, logger: logger)
                    print(applied.isEmpty ? "nothing to apply; database is up to date" : "applied: \(applied.map(\.name).joined(separator: ", "))")
                }
            }
        }
    }
}
