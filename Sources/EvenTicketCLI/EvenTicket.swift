import ArgumentParser
import Foundation

struct EvenTicket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventicket",
        abstract: "Sells event tickets; runs every order as a saga across services that talk through a PostgreSQL message bus.",
        subcommands: [Dev.self, Migrate.self, Serve.self, OrchestratorCommand.self, Worker.self, Status.self,
                      DeadLettersCommand.self, SagaCommand.self, Audit.self, TokenCommand.self, Bench.self]
    )
}

extension EvenTicket: CommandGroup {}

/// A command that only groups others. Run without one, it prints its help on standard error and
/// exits 64, as for any other usage error (ArgumentParser's default prints it and exits 0).
protocol CommandGroup: AsyncParsableCommand {}

extension CommandGroup {
    func run() async throws {
        FileHandle.standardError.write(Data((Self.helpMessage() + "\n").utf8))
        throw ExitCode(64)
    }
}
