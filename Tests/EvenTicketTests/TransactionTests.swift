import Database
import Foundation
import Logging
import PostgresNIO
import Testing

/// `PostgresConnection.transaction` and `commit`: a commit is reported only when it happened.
@Suite("Transactions", .timeLimit(.minutes(1)))
struct TransactionTests {
    @Test func aTransactionWhoseErrorWasSwallowedDoesNotPassForACommit() async throws {
        try await TestSystem.withDatabase { client, logger in
            _ = try await client.query("CREATE TABLE scratch (id int PRIMARY KEY)", logger: logger).collect()
            // The body catches a failed statement and goes on: PostgreSQL has aborted the
            // transaction, and answers COMMIT with the command tag ROLLBACK and no error.
            await #expect(throws: TransactionRolledBack.self) {
                try await client.transaction(logger: logger) { connection in
                    _ = try await connection.query("INSERT INTO scratch VALUES (1)", logger: logger).collect()
                    _ = try? await connection.query("SELECT 1 / 0", logger: logger).collect()
                }
            }
            let rows = try await TestSystem.scalar("SELECT count(*)::int FROM scratch", client: client, logger: logger)
            #expect(rows == 0)
            // A transaction that went through commits, and its rows are there.
            try await client.transaction(logger: logger) { connection in
                _ = try await connection.query("INSERT INTO scratch VALUES (2)", logger: logger).collect()
            }
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM scratch", client: client, logger: logger) == 1)
        }
    }

    @Test func aCommitInFlightIsAwaitedThroughACancellation() async throws {
        try await TestSystem.withDatabase { client, logger in
            // A commit that takes half a second: a deferred trigger sleeps at COMMIT.
            for statement: PostgresQuery in [
                "CREATE TABLE scratch (id int PRIMARY KEY)",
                "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$",
                """
                CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON scratch
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()
                """,
            ] {
                _ = try await client.query(statement, logger: logger).collect()
            }
            let sent = AsyncStream<Void>.makeStream()
            let transaction = Task {
                try await client.transaction(logger: logger) { connection in
                    _ = try await connection.query("INSERT INTO scratch VALUES (1)", logger: logger).collect()
                    sent.continuation.yield()
                }
            }
            // Cancelled while its COMMIT is on the way: the commit's answer is still what the
            // transaction reports (it went through), not the cancellation.
            for await _ in sent.stream { break }
            try await Task.sleep(for: .milliseconds(200))
            transaction.cancel()
            try await transaction.value
            #expect(try await TestSystem.scalar("SELECT count(*)::int FROM scratch", client: client, logger: logger) == 1)
        }
    }
}
