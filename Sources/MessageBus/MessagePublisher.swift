import EvenTicketContracts
import Foundation
import Logging
import PostgresNIO

/// Publishes messages inside the caller's transaction: the transactional outbox.
///
/// The queue table is the outbox, so a message exists exactly when the transaction that
/// published it commits. Consumers are woken on each queue's own channel (``channel(for:)``),
/// only in the processes that listen for that queue (see ``BusListener``): by the process's
/// ``BusNotifier`` after the commit (the services), or by a `NOTIFY` that the same statement
/// sends and PostgreSQL delivers at commit (`notifyAtCommit`: operator commands, tests, and a
/// service whose notifier holds no connection; see ``Wakeups/notifiesAtCommit``).
public enum MessagePublisher {
    /// The channels consumers LISTEN on are this prefix and the queue's name.
    public static let channelPrefix = "eventicket_bus_"

    /// The channel on which the consumers of `queue` are woken.
    public static func channel(for queue: String) -> String { channelPrefix + queue }

    public static func publish(_ messages: [OutgoingMessage], notifyAtCommit: Bool, on connection: PostgresConnection,
                               logger: Logger) async throws {
        guard !messages.isEmpty else { return }
        let statement = BusStatements.Publish(insert: MessageInsert(messages, notifyAtCommit: notifyAtCommit))
        for try await _ in try await connection.execute(statement, logger: logger) {}
    }

    /// Publishes `messages` and runs `writes` in the same statement (one round trip); without
    /// `writes`, as ``publish(_:notifyAtCommit:on:logger:)``.
    public static func publish(_ messages: [OutgoingMessage], with writes: (any FinalWrites)?, notifyAtCommit: Bool,
                               on connection: PostgresConnection, logger: Logger) async throws {
        guard let writes else { return try await publish(messages, notifyAtCommit: notifyAtCommit, on: connection, logger: logger) }
        try await publish(messages, with: writes, notifyAtCommit: notifyAtCommit, on: connection, logger: logger)
    }

    private static func publish<Writes: FinalWrites>(_ messages: [OutgoingMessage], with writes: Writes, notifyAtCommit: Bool,
                                                     on connection: PostgresConnection, logger: Logger) async throws {
        let statement = BusStatements.PublishWith(writes: writes, insert: MessageInsert(messages, notifyAtCommit: notifyAtCommit))
        for try await _ in try await connection.execute(statement, logger: logger) {}
    }

    /// The queues of `messages` whose consumers a commit should wake now (a delayed message
    /// wakes nobody: the consumers' poll finds it).
    public static func queuesToWake(_ messages: [OutgoingMessage]) -> Set<String> {
        Set(messages.lazy.filter { $0.delay <= .zero }.map(\.queue.rawValue))
    }

    /// Notifies the consumers of `queues` (at the commit of the transaction this runs in, or at
    /// once outside a transaction).
    public static func notify(_ queues: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        guard !queues.isEmpty else { return }
        for try await _ in try await connection.execute(BusStatements.Notify(queues: queues.sorted()), logger: logger) {}
    }
}
