import ArgumentParser
import EvenTicketApp
import Foundation
import Orchestrator

struct SagaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga", abstract: "Operator actions on sagas.", subcommands: [Retry.self])

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume the compensation of a failed saga.")
        @OptionGroup var options: OperatorOptions
        @OptionGroup var timeout: StepTimeoutOption
        @Argument(help: "The failed saga's id.") var id: UUIDArgument

        func run() async throws {
            let url = try options.database.resolve()
            let logger = options.logging.makeLogger("eventicket.saga")
            let (id, stepTimeout, compensationTimeout) = (self.id.value, try timeout.duration(), timeout.compensationDuration())
            try await reportingFailures {
                try await EvenTicketSystem.withDatabase(url, logger: logger, migrate: false, reachTimeout: .seconds(5)) { client in
                    try await requireMigrated(client, logger: logger)
                    let operations = SagaOperations(client: client, engine: SagaEngine(stepTimeout: stepTimeout, compensationTimeout: compensationTimeout))
                    switch try await operations.retry(id, logger: logger) {
                    case .resumed: print("saga \(id) is compensating again")
                    case .notFailed(let state): throw NotFound(description: "saga \(id) is \(state), not failed; nothing to retry")
                    case .notFound: throw NotFound(description: "no saga with id \(id)")
                    }
                }
            }
        }
    }
}
