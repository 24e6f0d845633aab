import ArgumentParser
import EvenTicketApp
import Foundation
import Orchestrator

struct SagaCommand: CommandGroup {
    static let configuration = CommandConfiguration(
        commandName: "saga", abstract: "Operator actions on sagas.", subcommands: [Retry.self])

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume the compensation of a failed saga.")
        @OptionGroup var options: OperatorOptions
        @OptionGroup var timeout: StepTimeoutOption
        @OptionGroup var compensationTimeout: CompensationTimeoutOption
        @Argument(help: "The failed saga's id.") var id: UUIDArgument

        func run() async throws {
            let id = self.id.value
            let engine = SagaEngine(stepTimeout: try timeout.duration(), compensationTimeout: compensationTimeout.duration())
            try await options.withDatabase("eventicket.saga") { client, logger in
                switch try await SagaOperations(client: client, engine: engine).retry(id, logger: logger) {
                case .resumed: print("saga \(id) is compensating again")
                case .notFailed(let state): throw NotFound(description: "saga \(id) is \(state), not failed; nothing to retry")
                case .notFound: throw NotFound(description: "no saga with id \(id)")
                }
            }
        }
    }
}
