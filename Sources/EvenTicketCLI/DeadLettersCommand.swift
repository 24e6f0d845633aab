import ArgumentParser
import EvenTicketApp
import Foundation
import Logging
import MessageBus

struct DeadLettersCommand: CommandGroup {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List, inspect, retry or discard messages that could not be handled.",
        subcommands: [List.self, Show.self, Retry.self, Discard.self])

    /// Runs `body` with the dead letters of the database the options name.
    static func withDeadLetters(_ options: OperatorOptions, _ body: @Sendable @escaping (DeadLetters, Logger) async throws -> Void) async throws {
        try await options.withDatabase("eventicket.dead-letters") { client, logger in
            try await body(DeadLetters(client: client), logger)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest dead letters, as JSON lines.")
        @OptionGroup var options: OperatorOptions
        @Option(parsing: .unconditional, help: "How many.") var limit = 100

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            let limit = self.limit
            try await DeadLettersCommand.withDeadLetters(options) { deadLetters, logger in
                for entry in try await deadLetters.list(limit: limit, logger: logger) {
                    printJSON(entry, pretty: false)
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter with its payload.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The dead letter's message id.") var id: UUIDArgument

        func run() async throws {
            let id = self.id.value
            try await DeadLettersCommand.withDeadLetters(options) { deadLetters, logger in
                guard let entry = try await deadLetters.entry(id, logger: logger) else {
                    throw NotFound(description: "no dead letter with id \(id)")
                }
                printJSON(entry, pretty: true)
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put dead letters back on their queues.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "Message ids to retry.") var ids: [UUIDArgument] = []
        @Flag(help: "Retry every dead letter.") var all = false

        func validate() throws {
            if all, !ids.isEmpty { throw ValidationError("name message ids or pass --all, not both") }
            if !all, ids.isEmpty { throw ValidationError("name the message ids to retry, or pass --all to retry every dead letter") }
        }

        func run() async throws {
            // An id named twice is one dead letter, moved once.
            let ids = all ? nil : Array(Set(self.ids.map(\.value)))
            try await DeadLettersCommand.withDeadLetters(options) { deadLetters, logger in
                let moved = try await deadLetters.retry(ids, logger: logger)
                print("retried \(moved) message\(moved == 1 ? "" : "s")")
                if let ids, moved < ids.count { throw NotFound(description: "\(ids.count - moved) of the ids named no dead letter") }
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dead letter for good.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The dead letter's message id.") var id: UUIDArgument

        func run() async throws {
            let id = self.id.value
            try await DeadLettersCommand.withDeadLetters(options) { deadLetters, logger in
                guard try await deadLetters.discard(id, logger: logger) else {
                    throw NotFound(description: "no dead letter with id \(id)")
                }
                print("discarded \(id)")
            }
        }
    }
}
