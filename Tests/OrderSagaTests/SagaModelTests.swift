import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

func roundTrip<T: Codable>(_ value: T) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
}

@Suite("Saga persistence")
struct SagaCodableTests {
    @Test func midCompensationSagaRoundTrips() throws {
        let saga = saga(after: paymentTimeoutInputs + [.refunded, .deadline("cancelInvoice", 4)])
        #expect(saga.state == .compensating)
        #expect(saga.step == .compensation(.cancelInvoice))
        #expect(saga.compensationAttempts == 2)
        #expect(saga.reason == "payment_timeout")
        let decoded = try roundTrip(saga)
        #expect(decoded == saga)
        #expect(decoded.compensationQueue == [.createInvoice, .reserveTickets])
        #expect(decoded.finishedSteps == [.reserveTickets, .createInvoice])
        #expect(decoded.token == 5)
    }

    @Test func decodedSagaBehavesLikeTheOriginal() throws {
        var original = saga(after: declinedInputs)
        var decoded = try roundTrip(original)
        for input: SagaInput in [.deadline("cancelInvoice", 3), .cancelled, .charged, .released] {
            #expect(decoded.handle(input) == original.handle(input))
            #expect(decoded == original)
        }
        #expect(decoded.state == .compensated)
    }

    @Test(arguments: [
        [SagaInput](), [.reserved], [.invoiced], completedInputs, declinedInputs, paymentTimeoutCompensatedInputs,
        [.unavailable("reservation_cancelled")],
    ])
    func everyStateRoundTrips(inputs: [SagaInput]) throws {
        let saga = saga(after: inputs)
        #expect(try roundTrip(saga) == saga)
    }

    @Test func failedSagaRoundTripsAndCanStillBeRetried() throws {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        var decoded = try roundTrip(saga)
        #expect(decoded == saga)
        expectApplied(&decoded, .operatorRetry, undoFirstStage(token: 8))
    }

    @Test func differentSagasAreNotEqual() {
        #expect(saga(after: [.reserved]) != saga(after: []))
        #expect(saga(after: declinedInputs) != saga(after: paymentTimeoutInputs))
    }
}

@Suite("Steps and states")
struct SagaStepTests {
    static let allSteps: [SagaStep] =
        ForwardStep.allCases.map(SagaStep.forward) + CompensationStep.allCases.map(SagaStep.compensation) + [.finished]

    @Test func forwardStepsAreInExecutionOrder() {
        #expect(ForwardStep.allCases == [.reserveTickets, .createInvoice, .chargePayment])
    }

    @Test func eachForwardStepHasItsCompensation() {
        #expect(ForwardStep.reserveTickets.compensation == .releaseTickets)
        #expect(ForwardStep.createInvoice.compensation == .cancelInvoice)
        #expect(ForwardStep.chargePayment.compensation == .refundPayment)
    }

    @Test func timeoutReasons() {
        #expect(ForwardStep.reserveTickets.timeoutReason == "reservation_timeout")
        #expect(ForwardStep.createInvoice.timeoutReason == "invoice_timeout")
        #expect(ForwardStep.chargePayment.timeoutReason == "payment_timeout")
    }

    @Test func stepNames() {
        #expect(SagaStep.forward(.createInvoice).name == "createInvoice")
        #expect(SagaStep.compensation(.refundPayment).name == "refundPayment")
        #expect(SagaStep.finished.name == "finished")
        #expect(Set(Self.allSteps.map(\.name)).count == Self.allSteps.count)
    }

    @Test(arguments: allSteps)
    func stepNameRoundTrips(step: SagaStep) throws {
        #expect(SagaStep(name: step.name) == step)
        #expect(try roundTrip(step) == step)
    }

    @Test(arguments: ["", "Finished", "reserve_tickets", "ReserveTickets", "unknown"])
    func unknownStepNameIsNil(name: String) {
        #expect(SagaStep(name: name) == nil)
    }

    @Test func terminalStates() {
        #expect(SagaState.allCases.filter(\.isTerminal) == [.completed, .compensated, .failed])
        #expect(SagaState.allCases.filter { !$0.isTerminal } == [.running, .compensating])
    }

    @Test func stateRawValuesAreStable() throws {
        #expect(SagaState.allCases.map(\.rawValue) == ["running", "compensating", "completed", "compensated", "failed"])
        for state in SagaState.allCases { #expect(try roundTrip(state) == state) }
    }
}

@Suite("Commands and inputs")
struct SagaCommandTests {
    static let all: [SagaCommand] = [Cmd.reserve, Cmd.invoice, Cmd.charge, Cmd.release, Cmd.cancel, Cmd.refund]

    @Test func destinations() {
        #expect(Self.all.map(\.destination) == [.inventory, .invoicing, .payment, .inventory, .invoicing, .payment])
    }

    @Test func names() {
        #expect(Self.all.map(\.name) ==
            ["ReserveTickets", "CreateInvoice", "ChargePayment", "ReleaseTickets", "CancelInvoice", "RefundPayment"])
    }

    @Test func envelopeOfEachCommandNamesItAndDecodesBack() throws {
        let cause = UUID()
        for command in Self.all {
            let envelope = command.envelope(sagaID: Fixture.sagaID, causationID: cause)
            #expect(envelope.typeName == "\(command.name).v1")
            #expect(envelope.sagaID == Fixture.sagaID)
            #expect(envelope.causationID == cause)
        }
        let charge = Cmd.charge.envelope(sagaID: Fixture.sagaID, causationID: nil)
        #expect(charge.causationID == nil)
        #expect(SagaCommand.chargePayment(try charge.decode(ChargePayment.self)) == Cmd.charge)
        let reserve = Cmd.reserve.envelope(sagaID: Fixture.sagaID, causationID: nil)
        #expect(SagaCommand.reserveTickets(try reserve.decode(ReserveTickets.self)) == Cmd.reserve)
        let refund = Cmd.refund.envelope(sagaID: Fixture.sagaID, causationID: nil)
        #expect(SagaCommand.refundPayment(try refund.decode(RefundPayment.self)) == Cmd.refund)
    }

    @Test func inputKinds() {
        let inputs: [SagaInput] = [.reserved, .unavailable(), .invoiced, .charged, .declined(), .released,
                                   .cancelled, .refunded, .deadline("x", 1), .operatorRetry]
        #expect(inputs.map(\.kind) == [
            "TicketsReserved", "TicketsUnavailable", "InvoiceCreated", "PaymentCharged", "PaymentFailed",
            "TicketsReleased", "InvoiceCancelled", "PaymentRefunded", "StepDeadlineReached", "OperatorRetry",
        ])
    }
}
