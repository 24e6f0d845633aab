import Database
import EvenTicketApp
import EvenTicketContracts
import EvenTicketTesting
import Foundation
import Logging
import Orchestrator
import PostgresNIO
import Testing

@Suite("Migrations", .timeLimit(.minutes(3)))
struct MigrationTests {
    @Test func appliesEveryFileOnceAndThenNothing() async throws {
        try await TestSystem.withDatabase { client, logger in
            // The template database is migrated already: nothing is pending.
            let migrator = try Migrator()
            #expect(migrator.migrations.count >= 6)
            #expect(try await migrator.pending(on: client, logger: logger).isEmpty)
            #expect(try await migrator.migrate(on: client, logger: logger).isEmpty)
            let recorded = try await TestSystem.scalar("SELECT count(*)::int FROM public.eventicket_migrations", client: client, logger: logger)
            #expect(recorded == migrator.migrations.count)
        }
    }

    @Test func anEditedAppliedFileFailsLoudly() async throws {
        try await TestSystem.withDatabase { client, logger in
            _ = try await client.query("UPDATE public.eventicket_migrations SET checksum = 'edited' WHERE version = 1", logger: logger).collect()
            await #expect(throws: MigrationError.self) { try await Migrator().migrate(on: client, logger: logger) }
            await #expect(throws: MigrationError.self) { try await Migrator().pending(on: client, logger: logger) }
        }
    }

    @Test func concurrentMigratorsApplyEachFileOnce() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Forget the ledger and the schemas, then let four migrators race.
            #expect(try await Self.dropEverything(client: client, logger: logger) >= 6)
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await Migrator().migrate(on: client, logger: logger).count }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let total = try Migrator().migrations.count
            #expect(applied.sorted() == [0, 0, 0, total])
            #expect(try await Migrator().pending(on: client, logger: logger).isEmpty)
        }
    }

    @Test func pendingWritesNothingAndMigrateWinsNoRaceWithIt() async throws {
        try await TestSystem.withDatabase { client, logger in
            #expect(try await Self.dropEverything(client: client, logger: logger) >= 6)
            // Without the ledger every file is pending, and asking creates nothing.
            let total = try Migrator().migrations.count
            #expect(try await Migrator().pending(on: client, logger: logger).count == total)
            #expect(try await TestSystem.scalar(
                "SELECT count(*)::int FROM pg_class WHERE relname = 'eventicket_migrations'", client: client, logger: logger) == 0)
            // Operators asking while services migrate: every migration still applies once.
            let applied = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask { try await Migrator().migrate(on: client, logger: logger).count }
                for _ in 0..<8 {
                    group.addTask { _ = try await Migrator().pending(on: client, logger: logger); return nil }
                }
                return try await group.reduce(into: [Int]()) { if let count = $1 { $0.append(count) } }
            }
            #expect(applied == [total])
            #expect(try await Migrator().pending(on: client, logger: logger).isEmpty)
        }
    }

    @Test func pendingListsNewFilesInOrder() async throws {
        try await TestSystem.withDatabase { client, logger in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            for migration in try Migrator().migrations {
                try migration.sql.write(to: folder.appendingPathComponent(migration.name), atomically: true, encoding: .utf8)
            }
            try "CREATE TABLE public.extra (id int); -- a comment; with a semicolon\nINSERT INTO public.extra VALUES (1);"
                .write(to: folder.appendingPathComponent("0099_extra.sql"), atomically: true, encoding: .utf8)
            let migrator = try Migrator(directory: folder)
            #expect(try await migrator.pending(on: client, logger: logger).map(\.name) == ["0099_extra.sql"])
            #expect(try await migrator.migrate(on: client, logger: logger).map(\.version) == [99])
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM public.extra", client: client, logger: logger) == 1)
        }
    }

    @Test func aFolderWithoutMigrationsIsRefused() throws {
        // `EVENTICKET_MIGRATIONS_DIR` set to the checkout's root instead of its `migrations/`:
        // it was read as no migrations at all, and a new database reported "up to date".
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "# not a migration".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try Migrator(directory: folder) }
    }

    @Test func historyWrittenAsOneRowPerEntryReadsTheSameAfterTheMoveToOneRowPerTransition() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Back to the schema before 0011.
            try await Self.migrate(upTo: 10, client: client, logger: logger)

            let saga = UUID()
            let sent = UUID()
            _ = try await client.query("""
                INSERT INTO orchestrator.sagas (id, order_id, state, step, order_data, history_seq)
                VALUES (\(saga), \(UUID()), 'running', 'createInvoice', '{}', 3)
                """, logger: logger).collect()
            _ = try await client.query("""
                INSERT INTO orchestrator.saga_history (saga_id, seq, kind, message, message_id, detail)
                VALUES (\(saga), 1, 'started', 'OrderPlaced', NULL, '{"orderId": "o-1"}'),
                       (\(saga), 2, 'sent', 'ReserveTickets', \(sent), '{"queue": "inventory"}'),
                       (\(saga), 3, 'received', 'TicketsReserved', NULL, '{}')
                """, logger: logger).collect()

            #expect(try await Migrator().migrate(on: client, logger: logger).map(\.version) == Self.versions(from: 11))
            let history = try #require(try await SagaQueries(client: client).saga(saga, logger: logger)?.history)
            #expect(history.map(\.kind) == ["started", "sent", "received"])
            #expect(history.map(\.message) == ["OrderPlaced", "ReserveTickets", "TicketsReserved"])
            #expect(history.map(\.messageId) == [nil, sent, nil])
            #expect(history.map(\.detail) == [["orderId": "o-1"], ["queue": "inventory"], [:]])
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM orchestrator.saga_transitions", client: client, logger: logger) == 3)
        }
    }

    @Test func aDeadlineMovesOntoItsSagaAndStaysItsAlarm() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Back to the schema before 0012: deadlines with their tokens in their own table.
            try await Self.migrate(upTo: 11, client: client, logger: logger)
            let waiting = UUID()
            let finished = UUID()
            for (saga, state) in [(waiting, "running"), (finished, "completed")] {
                _ = try await client.query("""
                    INSERT INTO orchestrator.sagas (id, order_id, state, step, order_data, token)
                    VALUES (\(saga), \(UUID()), \(state), 'createInvoice', '{}', 2)
                    """, logger: logger).collect()
            }
            _ = try await client.query("""
                INSERT INTO orchestrator.deadlines (saga_id, due_at, token)
                VALUES (\(waiting), '2030-01-01T00:00:00Z', 2)
                """, logger: logger).collect()

            #expect(try await Migrator().migrate(on: client, logger: logger).map(\.version) == Self.versions(from: 12))
            let rows = try await client.query("""
                SELECT s.id, s.due_at = '2030-01-01T00:00:00Z', s.deadline_token, a.due_at = s.due_at
                  FROM orchestrator.sagas s LEFT JOIN orchestrator.deadlines a ON a.saga_id = s.id
                """, logger: logger)
            var found: [UUID: (Bool?, Int?, Bool?)] = [:]
            for try await (id, due, token, alarm) in rows.decode((UUID, Bool?, Int?, Bool?).self) { found[id] = (due, token, alarm) }
            #expect(found[waiting]?.0 == true)
            #expect(found[waiting]?.1 == 2)
            #expect(found[waiting]?.2 == true)
            #expect(found[finished]?.0 == nil)
            #expect(found[finished]?.1 == nil)
            #expect(found[finished]?.2 == nil)
            let audit = try await ConsistencyAudit(client: client).run(logger: logger)
            #expect(!audit.violations.contains { $0.check == "deadline_alarm_late" })
        }
    }

    @Test func sagasThePreviousBuildLeftInFlightAreSentWhatTheirStageNowWaitsFor() async throws {
        try await TestSystem.withDatabase { client, logger in
            // Back to the schema before 0017, when the saga sent one command at a time.
            try await Self.migrate(upTo: 16, client: client, logger: logger)
            let sagas: [(label: String, state: String, step: String, finished: [String], queue: [String])] = [
                ("reserving", "running", "reserveTickets", [], []),
                ("invoicing", "running", "createInvoice", ["reserveTickets"], []),
                ("charging", "running", "chargePayment", ["reserveTickets", "createInvoice"], []),
                ("cancelling", "compensating", "cancelInvoice", ["reserveTickets", "createInvoice"], ["createInvoice", "reserveTickets"]),
                ("stuck cancelling", "failed", "cancelInvoice", ["reserveTickets", "createInvoice"], ["createInvoice", "reserveTickets"]),
                ("releasing", "compensating", "releaseTickets", ["reserveTickets", "createInvoice"], ["reserveTickets"]),
                ("compensated", "compensated", "finished", ["reserveTickets"], []),
            ]
            var orders: [String: OrderPlaced] = [:]
            var labels: [UUID: String] = [:]
            for saga in sagas {
                let id = UUID()
                let order = OrderPlaced(orderID: UUID(), customerID: "customer \(saga.label)", eventID: UUID(),
                                        lines: [OrderLine(ticketTypeID: UUID(), quantity: 2)], totalCents: 12_345,
                                        currency: "EUR", paymentToken: "tok_visa")
                orders[saga.label] = order
                labels[id] = saga.label
                _ = try await client.query("""
                    INSERT INTO orchestrator.sagas (id, order_id, state, step, finished_steps, compensation_queue, order_data)
                    VALUES (\(id), \(order.orderID), \(saga.state), \(saga.step), \(saga.finished), \(saga.queue),
                            \(MessageCoding.encode(order))::jsonb)
                    """, logger: logger).collect()
            }

            #expect(try await Migrator().migrate(on: client, logger: logger).map(\.version) == Self.versions(from: 17))
            var sent: [String: [String]] = [:]
            var payloads: [String: String] = [:]
            let rows = try await client.query("SELECT saga_id, queue, type, payload FROM bus.messages", logger: logger)
            for try await (saga, queue, type, payload) in rows.decode((UUID, String, String, String).self) {
                let label = labels[saga] ?? "unknown"
                sent[label, default: []].append("\(queue) \(type)")
                payloads[label] = payload
            }
            #expect(sent == [
                "reserving": ["invoicing CreateInvoice.v1"],
                "cancelling": ["inventory ReleaseTickets.v1"],
                "stuck cancelling": ["inventory ReleaseTickets.v1"],
            ])
            let reserving = try #require(orders["reserving"])
            #expect(try MessageCoding.decode(CreateInvoice.self, from: payloads["reserving"] ?? "") == CreateInvoice(
                orderID: reserving.orderID, customerID: "customer reserving", amountCents: 12_345, currency: "EUR"))
            let cancelling = try #require(orders["cancelling"])
            #expect(try MessageCoding.decode(ReleaseTickets.self, from: payloads["cancelling"] ?? "") == ReleaseTickets(orderID: cancelling.orderID))
        }
    }

    /// The versions of the migrations from `first` on.
    static func versions(from first: Int) throws -> [Int] {
        try Migrator().migrations.map(\.version).filter { $0 >= first }
    }

    /// Drops everything, then applies the migrations up to `version`.
    static func migrate(upTo version: Int, client: PostgresClient, logger: Logger) async throws {
        try await dropEverything(client: client, logger: logger)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for migration in try Migrator().migrations where migration.version <= version {
            try migration.sql.write(to: folder.appendingPathComponent(migration.name), atomically: true, encoding: .utf8)
        }
        _ = try await Migrator(directory: folder).migrate(on: client, logger: logger)
    }

    /// Drops every schema the migrations made and the migration ledger; returns how many schemas.
    @discardableResult
    static func dropEverything(client: PostgresClient, logger: Logger) async throws -> Int {
        var schemas: [String] = []
        for try await name in try await client.query(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('public', 'information_schema')",
            logger: logger).decode(String.self) {
            schemas.append(name)
        }
        // Schema names come from the database itself, not from input.
        for statement in ["DROP SCHEMA \(schemas.joined(separator: ", ")) CASCADE", "DROP TABLE public.eventicket_migrations"] {
            _ = try await client.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
        }
        return schemas.count
    }
}
