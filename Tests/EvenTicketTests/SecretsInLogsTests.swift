import Database
import EvenTicketTesting
import Foundation
import Logging
import Synchronization
import Testing

/// Collects every log line, metadata included, at trace level.
final class CapturingLogHandler: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])
    private let label: String

    init(label: String) { self.label = label }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let rendered = "\(event.level) \(label): \(event.message) \(event.metadata ?? [:])"
        lines.withLock { $0.append(rendered) }
    }
}

@Suite("Secrets stay out of logs", .timeLimit(.minutes(3)))
struct SecretsInLogsTests {
    @Test func paymentTokensAndBearerTokensNeverAppearInLogsEvenAtTrace() async throws {
        let handler = CapturingLogHandler(label: "eventicket.test")
        var logger = Logger(label: "eventicket.test", factory: { _ in handler })
        logger.logLevel = .trace
        let paymentToken = "tok_secret_4242_do_not_log"
        let declinedToken = "tok_declined"
        let bearerTokens = Mutex<[String]>([])
        try await TestSystem.run(logger: logger) { system in
            bearerTokens.withLock { $0 = Array(system.tokens.values) }
            let (event, ticketType) = try await system.createEvent(capacity: 10)
            let (_, confirmed) = try await system.placeOrder(event: event, ticketType: ticketType, token: paymentToken)
            let (_, declined) = try await system.placeOrder(event: event, ticketType: ticketType, token: declinedToken)
            _ = try await system.awaitSaga(confirmed, state: "completed")
            _ = try await system.awaitSaga(declined, state: "compensated")
            // A request with a wrong token is refused (and must not log the token either).
            let wrong = "et_not_a_real_token_but_secret_anyway"
            _ = try await system.request(.get, "/events/\(event)", as: .token(wrong))
            bearerTokens.withLock { $0.append(wrong) }
        }
        let logs = handler.text
        // The statements that carried the secrets were logged (with their bound values masked),
        // so the check below looks where a leak would be.
        #expect(logs.contains("INSERT INTO ordering.orders"), "the statements were not logged, so the check proves nothing")
        #expect(!logs.contains(paymentToken))
        for token in bearerTokens.withLock({ $0 }) {
            #expect(!logs.contains(token))
        }
    }

    @Test func aDatabasePasswordIsMaskedWhereverTheURLIsPrinted() throws {
        let url = try DatabaseURL("postgres://eventicket:hunter2-secret@db.internal:5432/eventicket?sslmode=require")
        #expect(!"\(url)".contains("hunter2-secret"))
        #expect(!String(reflecting: url).contains("hunter2-secret"))
    }
}
