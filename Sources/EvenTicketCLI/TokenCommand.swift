import Access
import ArgumentParser
import EvenTicketApp
import Foundation

struct TokenCommand: CommandGroup {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create or revoke API bearer tokens.", subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it (it is shown only this once).")
        @OptionGroup var options: OperatorOptions
        @Option(help: "client (place and read orders) or operator (also create events, list sagas).") var role: AccessRole
        @Option(help: "A name to recognise the token by.") var name = "token"

        func validate() throws {
            guard (1...100).contains(name.count) else { throw ValidationError("--name must be 1 to 100 characters") }
        }

        func run() async throws {
            let (role, name) = (self.role, self.name)
            let created = try await options.withDatabase("eventicket.token") { client, logger in
                try await AccessTokens(client: client).create(name: name, role: role, logger: logger)
            }
            printJSON(created, pretty: true)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The token's id (from `token create`).") var id: UUIDArgument

        func run() async throws {
            let id = self.id.value
            try await options.withDatabase("eventicket.token") { client, logger in
                guard try await AccessTokens(client: client).revoke(id, logger: logger) else {
                    throw NotFound(description: "no live token with id \(id)")
                }
                print("revoked \(id)")
            }
        }
    }
}

extension AccessRole: ExpressibleByArgument {}
