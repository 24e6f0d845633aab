import CoreMetrics
import EvenTicketApp
import EvenTicketTesting
import Foundation
import HTTPTypes
import Hummingbird
import Testing

/// The HTTP API's contract: status codes, problem bodies, idempotency and listing.
@Suite("HTTP API", .timeLimit(.minutes(3)))
struct HTTPAPITests {
    static func expectProblem(_ result: TestSystem.HTTPResult, _ status: HTTPResponse.Status, field: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "\(result.text)", sourceLocation: sourceLocation)
        #expect(result.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        #expect(result.body["status"]?.int == Int(status.code), sourceLocation: sourceLocation)
        #expect(result.body["title"]?.string?.isEmpty == false, sourceLocation: sourceLocation)
        if let field { #expect(result.body["field"]?.string == field, "\(result.text)", sourceLocation: sourceLocation) }
    }

    @Test func badOrdersGetProblemsNamingTheField() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 5)
            let cases: [(String, HTTPResponse.Status, String?)] = [
                ("{not json", .badRequest, nil),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":0}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":-3}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":"two"}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(UUID())","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "eventId"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(UUID())","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].ticketTypeId"),
                (#"{"customerId":"c","eventId":"nope","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "eventId"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"4242 4242"}"#, .unprocessableContent, "paymentToken"),
                (#"{"eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                (#"{"customerId":"c\u0000","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                // C1 controls are control characters too (the OpenAPI document's pattern says so).
                (#"{"customerId":"c\u0085","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                // One character by Swift's count, 101 Unicode scalars by JSON Schema's.
                (#"{"customerId":"c\#(String(repeating: "\u{301}", count: 100))","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                (#"{"customerId":5,"eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                (#"{"customerId":"  ","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":{"ticketTypeId":"\#(type)"},"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":null,"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":["\#(type)"],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0]"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].ticketTypeId"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":null}"#, .unprocessableContent, "paymentToken"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1.5}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                // Not integers, though the nearest Double of each is one.
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":0.99999999999999999}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1e-400}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":99999999999999999999}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa","discount":100}"#, .unprocessableContent, "discount"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1,"price":0}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].price"),
                // A field given twice: a reader would take one and drop the other.
                (#"{"customerId":"a","customerId":"b","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "customerId"),
                (#"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1,"quantity":5}],"paymentToken":"tok_visa"}"#, .unprocessableContent, "lines[0].quantity"),
                ("[]", .unprocessableContent, nil),
                ("", .badRequest, nil),
            ]
            for (body, status, field) in cases {
                Self.expectProblem(try await system.request(.post, "/orders", json: body), status, field: field)
            }
            let notAnObject = try await system.request(.post, "/orders", json: "[]")
            #expect(notAnObject.body["field"] == nil)
            #expect(notAnObject.body["detail"]?.string == "the request body must be an object")
            let null = try await system.request(.post, "/orders", json: "null")
            Self.expectProblem(null, .unprocessableContent)
            #expect(null.body["field"] == nil)
            #expect(null.body["detail"]?.string == "the request body must be an object, not null")
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 0)
        }
    }

    @Test func unknownThingsAreNotFoundProblems() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            Self.expectProblem(try await system.request(.get, "/orders/\(UUID())"), .notFound)
            Self.expectProblem(try await system.request(.get, "/orders/not-a-uuid"), .notFound)
            Self.expectProblem(try await system.request(.get, "/sagas/\(UUID())"), .notFound)
            Self.expectProblem(try await system.request(.get, "/events/\(UUID())"), .notFound)
            Self.expectProblem(try await system.request(.get, "/no/such/route"), .notFound)
            Self.expectProblem(try await system.request(.get, "/sagas?state=sleeping"), .badRequest, field: "state")
            Self.expectProblem(try await system.request(.get, "/sagas?limit=0"), .badRequest, field: "limit")
            // A parameter the list does not take, or one given twice, is not silently ignored.
            Self.expectProblem(try await system.request(.get, "/sagas?STATE=running"), .badRequest, field: "STATE")
            Self.expectProblem(try await system.request(.get, "/sagas?limit=10&limit=20"), .badRequest, field: "limit")
            #expect(try await system.request(.get, "/sagas?&limit=5").status == .ok, "an empty piece is no parameter")
            // Names are percent-decoded like values: `st%61te` is `state`, and counts as a repeat of it.
            Self.expectProblem(try await system.request(.get, "/sagas?st%61te=sleeping"), .badRequest, field: "state")
            Self.expectProblem(try await system.request(.get, "/sagas?limit=10&l%69mit=20"), .badRequest, field: "limit")
            #expect(try await system.request(.get, "/sagas?l%69mit=5").status == .ok)
            let wrongMethod = try await system.request(.delete, "/orders/\(UUID())")
            Self.expectProblem(wrongMethod, .methodNotAllowed)
            #expect(wrongMethod.headers[.allow] == "GET")
            #expect(try await system.request(.get, "/orders").headers[.allow] == "POST")
        }
    }

    @Test func anOversizedBodyIsRefused() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let huge = #"{"customerId":""# + String(repeating: "x", count: 100_000) + #""}"#
            Self.expectProblem(try await system.request(.post, "/orders", json: huge), .contentTooLarge)
        }
    }

    @Test func aBodyThatIsNotJSONByItsTypeOrItsBytesIsRefused() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 5)
            let order = #"{"customerId":"c","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#
            for contentType in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"] {
                let result = try await system.request(.post, "/orders", json: order, headers: [.contentType: contentType])
                Self.expectProblem(result, .unsupportedMediaType)
            }
            let bare = try await system.http.execute(
                uri: "/orders", method: .post, headers: [.authorization: "Bearer \(system.tokens[.client]!)"], body: ByteBuffer(string: order))
            #expect(bare.status == .unsupportedMediaType)
            // Bytes that are not UTF-8 in a string: refused, not stored with replacement characters.
            var bytes = Array(#"{"customerId":""#.utf8) + [0xFF, 0xFE]
            bytes += Array(#"","eventId":"\#(event)","lines":[{"ticketTypeId":"\#(type)","quantity":1}],"paymentToken":"tok_visa"}"#.utf8)
            let notUTF8 = try await system.http.execute(
                uri: "/orders", method: .post,
                headers: [.authorization: "Bearer \(system.tokens[.client]!)", .contentType: "application/json"], body: ByteBuffer(bytes: bytes))
            #expect(notUTF8.status == .badRequest)
            #expect(String(buffer: notUTF8.body).contains("UTF-8"))
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 0)
            // Parameters and a +json type are JSON.
            for contentType in ["application/json; charset=utf-8", "Application/JSON", "application/vnd.eventticket+json"] {
                let result = try await system.request(.post, "/orders", json: order, headers: [.contentType: contentType], as: .role(.client))
                #expect(result.status == .accepted, "\(contentType): \(result.text)")
            }
        }
    }

    @Test func badEventsAreRefused() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let cases: [(String, String)] = [
                (#"{"name":"","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1}]}"#, "name"),
                (#"{"name":"x","ticketTypes":[]}"#, "ticketTypes"),
                (#"{"name":"night\u0000out","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1}]}"#, "name"),
                (#"{"name":"x","ticketTypes":[{"name":"G\u0000A","priceCents":1,"currency":"EUR","capacity":1}]}"#, "ticketTypes[0].name"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":-1,"currency":"EUR","capacity":1}]}"#, "ticketTypes[0].priceCents"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1,"currency":"euro","capacity":1}]}"#, "ticketTypes[0].currency"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":-5}]}"#, "ticketTypes[0].capacity"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1e30}]}"#, "ticketTypes[0].capacity"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1.5,"currency":"EUR","capacity":1}]}"#, "ticketTypes[0].priceCents"),
                (#"{"name":"x","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1,"vat":20}]}"#, "ticketTypes[0].vat"),
                (#"{"name":"x","venue":"y","ticketTypes":[{"name":"GA","priceCents":1,"currency":"EUR","capacity":1}]}"#, "venue"),
            ]
            for (body, field) in cases {
                Self.expectProblem(try await system.request(.post, "/events", json: body), .unprocessableContent, field: field)
            }
        }
    }

    @Test func aBusyDatabaseAnswers503AndTheRetryPlacesTheOrderOnce() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            let body = system.orderJSON(event: event, ticketType: type)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "busy-1"]
            // The orders table is locked past the API's 5 s lock timeout.
            try await system.client.withTransaction(logger: system.logger) { connection in
                try await connection.query("LOCK TABLE ordering.orders IN ACCESS EXCLUSIVE MODE", logger: system.logger)
                let busy = try await system.request(.post, "/orders", json: body, headers: key)
                Self.expectProblem(busy, .serviceUnavailable)
                #expect(busy.headers[.retryAfter] == "1")
            }
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 0)
            // Sent again once the database is free, the order is placed, once.
            for _ in 0..<2 {
                let placed = try await system.request(.post, "/orders", json: body, headers: key)
                #expect(placed.status == .accepted, "\(placed.text)")
            }
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 1)
        }
    }

    @Test func aBatchThatTimesOutOnALockPlacesItsOrdersAloneOnOtherConnections() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) { try await aBatchThatTimesOutOnALock(export) }
    }

    private func aBatchThatTimesOutOnALock(_ export: PrometheusExport) async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            let body = system.orderJSON(event: event, ticketType: type)
            // The orders table is locked past two of the API's 5 s lock timeouts: the first
            // order's, and then the batch's of the three sent while it waited. Each timeout closes
            // the intake's connection; the batch's orders are then placed one by one, each on a
            // connection of its own, once the lock is gone (on the closed one, each would wait
            // for the intake's 30 s watchdog and fail).
            try await system.client.withTransaction(logger: system.logger) { connection in
                try await connection.query("LOCK TABLE ordering.orders IN ACCESS EXCLUSIVE MODE", logger: system.logger)
                async let first = system.request(.post, "/orders", json: body)
                try await Task.sleep(for: .seconds(1))
                async let batch = withThrowingTaskGroup(of: TestSystem.HTTPResult.self) { group in
                    for _ in 0..<3 { group.addTask { try await system.request(.post, "/orders", json: body) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                Self.expectProblem(try await first, .serviceUnavailable)
                try await Task.sleep(for: .seconds(7))
                try await connection.query("COMMIT", logger: system.logger)
                try await connection.query("BEGIN", logger: system.logger)
                let placed = try await batch
                #expect(placed.map(\.status) == [.accepted, .accepted, .accepted], "\(placed.map(\.text))")
            }
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 3)
            // The three were written one by one (three statements of one order each), not as the
            // batch that timed out: the path this test is about was taken.
            #expect(MetricsTests.value("eventicket_intake_batch_orders_count", in: export) == 3)
            #expect(MetricsTests.value("eventicket_intake_batch_orders_sum", in: export) == 3)
        }
    }

    @Test func aReplayWhoseLookupFailsAfterItsBatchCommittedFailsAloneAndPlacesNothingTwice() async throws {
        let export = PrometheusExport()
        try await withMetricsFactory(export.factory) { try await aReplayWhoseLookupFails(export) }
    }

    private func aReplayWhoseLookupFails(_ export: PrometheusExport) async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            let body = system.orderJSON(event: event, ticketType: type)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "unreadable"]
            #expect(try await system.request(.post, "/orders", json: body, headers: key).status == .accepted)
            // The order under that key no longer reads back, so replaying the key fails in the
            // lookup that follows its batch's commit.
            _ = try await system.client.query(
                "UPDATE ordering.orders SET lines = '{\"not\": \"lines\"}' WHERE idempotency_key = 'unreadable'",
                logger: system.logger
            ).collect()
            // The intake's writer waits on the lock with a first order, while the replay and a
            // new order queue up behind it: they share the next batch, which commits the new
            // order and then fails to read the replayed one. (When that failure failed the whole
            // batch, its orders were placed again one by one: the new order twice.)
            try await system.client.withTransaction(logger: system.logger) { connection in
                try await connection.query("LOCK TABLE ordering.orders IN ACCESS EXCLUSIVE MODE", logger: system.logger)
                async let first = system.request(.post, "/orders", json: body)
                try await Task.sleep(for: .milliseconds(500))
                async let replay = system.request(.post, "/orders", json: body, headers: key)
                async let new = system.request(.post, "/orders", json: body)
                try await Task.sleep(for: .milliseconds(500))
                try await connection.query("COMMIT", logger: system.logger)
                try await connection.query("BEGIN", logger: system.logger)
                #expect(try await first.status == .accepted)
                #expect(try await new.status == .accepted)
                let replayed = try await replay
                #expect(replayed.status.code >= 500, "\(replayed.text)")
            }
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 3)
            #expect(try await system.scalar("SELECT count(*)::int FROM orchestrator.sagas") == 3)
            // The replay and the new order shared a statement (the first order's, the keyed one's
            // and theirs: 3 statements, 4 requests), as the test arranges.
            #expect(MetricsTests.value("eventicket_intake_batch_orders_count", in: export) == 3)
            #expect(MetricsTests.value("eventicket_intake_batch_orders_sum", in: export) == 4)
        }
    }

    @Test func anIntakeThatWentIdleLeasesAConnectionForTheNextOrder() async throws {
        var configuration = TestSystem.configuration
        configuration.api.intakeIdleLimit = .milliseconds(100)
        try await TestSystem.run(configuration: configuration, roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            _ = try await system.placeOrder(event: event, ticketType: type)
            // Past the idle limit the intake's writer has given its connection back, and waits
            // for the next request without one.
            try await Task.sleep(for: .milliseconds(500))
            _ = try await system.placeOrder(event: event, ticketType: type)
            try await Task.sleep(for: .milliseconds(500))
            async let third = system.placeOrder(event: event, ticketType: type)
            async let fourth = system.placeOrder(event: event, ticketType: type)
            _ = try await (third, fourth)
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 4)
        }
    }

    @Test func anIntakeWhoseIdleConnectionIsEndedPlacesTheNextOrderOnAnother() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            _ = try await system.placeOrder(event: event, ticketType: type)
            // The server ends every other session, the intake's kept connection among them,
            // while the intake waits for the next request.
            #expect(try await system.scalar(
                "SELECT (count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)))::int FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ) >= 1)
            // The backends have exited (the call waits for that); a second lets the intake's
            // event loop see the closed socket, even on a loaded machine.
            try await Task.sleep(for: .seconds(1))
            // Written on the dead connection, the order would wait for the intake's 30 s
            // watchdog and then fail.
            let placed = try await system.request(.post, "/orders", json: system.orderJSON(event: event, ticketType: type))
            #expect(placed.status == .accepted, "\(placed.text)")
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 2)
        }
    }

    @Test func theSameIdempotencyKeyPlacesOneOrder() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            let body = system.orderJSON(event: event, ticketType: type)
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "order-123"]
            // Concurrent requests with one key create one order and all see it.
            let ids = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let result = try await system.request(.post, "/orders", json: body, headers: key)
                        #expect(result.status == .accepted, "\(result.text)")
                        #expect(result.headers[.location] == "/orders/\(result.body["orderId"]?.string ?? "")")
                        return result.body["orderId"]?.string
                    }
                }
                return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
            }
            #expect(ids.count == 1)
            #expect(ids.first! != nil)
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 1)
            #expect(try await system.scalar("SELECT count(*)::int FROM orchestrator.sagas") == 1)
            // The replays started no saga of their own: one history row, one deadline, one first command.
            #expect(try await system.scalar("SELECT count(*)::int FROM orchestrator.saga_transitions") == 1)
            #expect(try await system.scalar("SELECT count(*)::int FROM orchestrator.deadlines") == 1)
            #expect(try await system.scalar("SELECT count(*)::int FROM bus.messages WHERE type = 'ReserveTickets.v1'") == 1)
            // A different body under the same key is a conflict.
            let other = system.orderJSON(event: event, ticketType: type, quantity: 3)
            Self.expectProblem(try await system.request(.post, "/orders", json: other, headers: key), .conflict)
            // Without a key, the same body is a new order.
            #expect(try await system.request(.post, "/orders", json: body).status == .accepted)
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 2)
            // Two keys are refused, not joined into one ("order-123, other"), and store nothing.
            var twoKeys = key
            twoKeys.append(HTTPField(name: HTTPField.Name("Idempotency-Key")!, value: "other"))
            let refused = try await system.request(.post, "/orders", json: body, headers: twoKeys)
            Self.expectProblem(refused, .badRequest)
            #expect(refused.body["detail"]?.string == "is given more than once", "\(refused.text)")
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 2)
        }
    }

    @Test func idempotencyKeysAreOneToTwoHundredPrintableASCIICharacters() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            let body = system.orderJSON(event: event, ticketType: type)
            let name = HTTPField.Name("Idempotency-Key")!
            let refused = [
                String(repeating: "k", count: 201),
                "clé",
                // 200 characters by Swift's count, 12,200 bytes of random combining marks that
                // do not compress: beyond what the key's unique index takes in an entry (54000,
                // "index row requires 12216 bytes": a 500 before the check counted bytes).
                String((0..<200).map { _ in
                    "a" + String(String.UnicodeScalarView((0..<30).map { _ in Unicode.Scalar(0x300 + UInt32.random(in: 0..<112))! }))
                }.joined()),
            ]
            for key in refused {
                let result = try await system.request(.post, "/orders", json: body, headers: [name: key])
                Self.expectProblem(result, .badRequest)
                #expect(result.body["detail"]?.string == "must be 1 to 200 printable ASCII characters", "\(result.text)")
            }
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 0)
            let longest = String(repeating: "k", count: 199) + "~"
            let placed = try await system.request(.post, "/orders", json: body, headers: [name: longest])
            #expect(placed.status == .accepted, "\(placed.text)")
            let replayed = try await system.request(.post, "/orders", json: body, headers: [name: longest])
            #expect(replayed.body["orderId"] == placed.body["orderId"])
            #expect(try await system.scalar("SELECT count(*)::int FROM ordering.orders") == 1)
        }
    }

    @Test func sagasAreListedNewestFirstInPages() async throws {
        try await TestSystem.run { system in
            let (event, type) = try await system.createEvent(capacity: 50)
            var sagas: [String] = []
            for token in ["tok_visa", "tok_declined", "tok_visa"] {
                let (order, saga) = try await system.placeOrder(event: event, ticketType: type, quantity: 1, token: token)
                _ = try await system.awaitTerminalOrder(order)
                sagas.append(saga)
            }
            let first = try await system.request(.get, "/sagas?limit=2")
            #expect(first.status == .ok)
            let page1 = first.body["sagas"]?.array?.compactMap { $0.object?["sagaId"]?.string } ?? []
            #expect(page1 == [sagas[2], sagas[1]])
            let cursor = try #require(first.body["nextCursor"]?.string)
            let second = try await system.request(.get, "/sagas?limit=2&after=\(cursor)")
            #expect(second.body["sagas"]?.array?.compactMap { $0.object?["sagaId"]?.string } == [sagas[0]])
            #expect(second.body["nextCursor"] == nil || second.body["nextCursor"]?.isNull == true)
            let compensated = try await system.request(.get, "/sagas?state=compensated")
            #expect(compensated.body["sagas"]?.array?.compactMap { $0.object?["sagaId"]?.string } == [sagas[1]])
        }
    }

    @Test func healthAnswers() async throws {
        try await TestSystem.run(roles: [.api]) { system in
            let health = try await system.request(.get, "/health")
            #expect(health.status == .ok)
            #expect(health.body["status"]?.string == "ok")
            let probe = try await system.request(.head, "/health", as: .none)
            #expect(probe.status == .ok)
            #expect(probe.text.isEmpty)
        }
    }
}
