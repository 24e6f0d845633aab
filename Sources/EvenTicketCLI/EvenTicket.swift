import ArgumentParser

struct EvenTicket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventicket",
        abstract: "Sells event tickets; runs every order as a saga across services that talk through a PostgreSQL message bus.",
        subcommands: [Dev.self, Migrate.self, Serve.self, OrchestratorCommand.self, Worker.self, Status.self,
                      DeadLettersCommand.self, SagaCommand.self, Audit.self, TokenCommand.self, Bench.self]
    )
}
