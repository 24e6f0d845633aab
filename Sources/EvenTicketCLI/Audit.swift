import ArgumentParser
import EvenTicketApp
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the invariants across every service; print a JSON report, exit 1 on any violation.")

    @OptionGroup var options: OperatorOptions
    @Option(parsing: .unconditional, help: "Seconds an order may stay pending before it counts as a violation.")
    var maxPendingAge: Int = 60

    func validate() throws {
        guard (0...31_536_000).contains(maxPendingAge) else { throw ValidationError("--max-pending-age must be 0 to 31536000 seconds (a year)") }
    }

    func run() async throws {
        let grace = Duration.seconds(maxPendingAge)
        let report = try await options.withDatabase("eventicket.audit") { client, logger in
            try await ConsistencyAudit(client: client).run(pendingGrace: grace, logger: logger)
        }
        printJSON(AuditOutput(report: report), pretty: true)
        if !report.clean { throw ExitCode.failure }
    }

    struct AuditOutput: Encodable {
        var report: ConsistencyAudit.Report
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(report.clean, forKey: .clean)
            try container.encode(report.orders, forKey: .orders)
            try container.encode(report.sagas, forKey: .sagas)
            try container.encode(report.violations, forKey: .violations)
            try container.encode(report.deadLetters, forKey: .deadLetters)
        }
        enum Keys: String, CodingKey { case clean, orders, sagas, violations, deadLetters }
    }
}
