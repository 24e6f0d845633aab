import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

@Suite("Forward failures")
struct ForwardFailureTests {
    @Test(arguments: ["tickets_unavailable", "reservation_cancelled"])
    func ticketsUnavailableCancelsTheInvoiceUnderWayThenRejects(reason: String) {
        var saga = startedSaga()
        expectApplied(&saga, .unavailable(reason), sendAndWait(Cmd.cancel, step: "cancelInvoice", token: 2))
        #expect(saga.state == .compensating)
        #expect(saga.reason == reason)
        #expect(saga.finishedSteps.isEmpty)
        #expect(saga.compensationQueue == [.createInvoice])
        expectApplied(&saga, .cancelled, [reject(reason)])
        #expect(saga.state == .compensated)
        #expect(saga.step == .finished)
        #expect(saga.compensationQueue.isEmpty)
        #expect(saga.token == 2)
    }

    @Test func ticketsUnavailableAfterTheInvoiceCancelsIt() {
        var saga = saga(after: [.invoiced])
        expectApplied(&saga, .unavailable(), sendAndWait(Cmd.cancel, step: "cancelInvoice", token: 2))
        #expect(saga.compensationQueue == [.createInvoice])
        #expect(saga.finishedSteps == [.createInvoice])
        expectApplied(&saga, .cancelled, [reject("tickets_unavailable")])
    }

    @Test func deadlinesAfterUnavailableAndItsCancellationAreIgnoredEvenWithTheCurrentToken() {
        var saga = saga(after: [.unavailable(), .cancelled])
        #expect(saga.token == 2)
        expectIgnored(&saga, .deadline("cancelInvoice", 2))
        expectIgnored(&saga, .deadline("reserveTickets", 2))
        expectIgnored(&saga, .deadline("reserveTickets", 1))
        #expect(saga.state == .compensated)
    }

    @Test func paymentFailedUndoesTheFirstStagesStepsSideBySide() {
        var saga = runningSaga(at: .chargePayment)

        expectApplied(&saga, .declined(), undoFirstStage(token: 3))
        #expect(saga.state == .compensating)
        #expect(saga.step == .compensation(.cancelInvoice))
        #expect(saga.compensatingSteps == [.createInvoice, .reserveTickets])
        #expect(saga.reason == "payment_declined")
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        #expect(saga.compensationAttempts == 1)
        #expect(!saga.state.isTerminal)

        expectApplied(&saga, .cancelled, [])
        #expect(saga.state == .compensating)
        #expect(saga.step == .compensation(.releaseTickets))
        #expect(saga.compensationQueue == [.reserveTickets])
        #expect(saga.token == 3)

        expectApplied(&saga, .released, [reject("payment_declined")])
        #expect(saga.state == .compensated)
        #expect(saga.step == .finished)
        #expect(saga.compensationQueue.isEmpty)
        #expect(saga.reason == "payment_declined")
        #expect(saga.finishedSteps == [.reserveTickets, .createInvoice])
    }

    @Test func aStagesCompensationsMayAnswerInEitherOrder() {
        var saga = saga(after: declinedInputs)
        expectApplied(&saga, .released, [])
        #expect(saga.step == .compensation(.cancelInvoice))
        #expect(saga.compensationQueue == [.createInvoice])
        expectIgnored(&saga, .released)
        expectApplied(&saga, .cancelled, [reject("payment_declined")])
        #expect(saga.state == .compensated)
    }

    @Test func compensationFollowsTheForwardPathsOrderWhateverOrderTheStepsFinishedIn() {
        var saga = saga(after: [.invoiced, .reserved])
        #expect(saga.finishedSteps == [.createInvoice, .reserveTickets])
        expectApplied(&saga, .declined(), undoFirstStage(token: 3))
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
    }

    @Test func paymentFailedNeverRefunds() {
        var saga = runningSaga(at: .chargePayment)
        var all: [SagaAction] = []
        for input: SagaInput in [.declined(), .cancelled, .released] {
            all += saga.handle(input).actions
        }
        #expect(!all.contains(.send(Cmd.refund)))
        #expect(all.filter { if case .send = $0 { true } else { false } } == [.send(Cmd.cancel), .send(Cmd.release)])
    }

    @Test func failureForAStepNotBeingWaitedOnIsIgnored() {
        var atReserve = runningSaga(at: .reserveTickets)
        expectIgnored(&atReserve, .declined())
        var atInvoice = runningSaga(at: .createInvoice)
        expectIgnored(&atInvoice, .unavailable())
        expectIgnored(&atInvoice, .declined())
        var atCharge = runningSaga(at: .chargePayment)
        expectIgnored(&atCharge, .unavailable())
    }

    @Test func secondFailureWhileCompensatingIsIgnored() {
        var saga = saga(after: declinedInputs)
        expectIgnored(&saga, .declined("payment_declined"))
        expectIgnored(&saga, .declined("something_else"))
        #expect(saga.reason == "payment_declined")
    }
}

@Suite("Forward deadlines")
struct ForwardDeadlineTests {
    @Test func paymentDeadlineCompensatesEveryStepIncludingTheTimedOutOne() {
        var saga = runningSaga(at: .chargePayment)

        expectApplied(&saga, .deadline("chargePayment", 2), sendAndWait(Cmd.refund, step: "refundPayment", token: 3))
        #expect(saga.state == .compensating)
        #expect(saga.reason == "payment_timeout")
        #expect(saga.compensationQueue == [.chargePayment, .createInvoice, .reserveTickets])
        #expect(saga.finishedSteps == [.reserveTickets, .createInvoice])

        // The stages one after the other: the refund first, then the first stage's two together.
        expectApplied(&saga, .refunded, undoFirstStage(token: 4))
        expectApplied(&saga, .cancelled, [])
        expectApplied(&saga, .released, [reject("payment_timeout")])
        #expect(saga.state == .compensated)
        #expect(saga.step == .finished)
        #expect(saga.reason == "payment_timeout")
    }

    @Test func stageDeadlineUndoesBothStepsUnderWay() {
        var saga = startedSaga()
        expectApplied(&saga, .deadline("reserveTickets", 1), undoFirstStage(token: 2))
        #expect(saga.state == .compensating)
        #expect(saga.reason == "reservation_timeout")
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        expectApplied(&saga, .cancelled, [])
        expectApplied(&saga, .released, [reject("reservation_timeout")])
        #expect(saga.state == .compensated)
    }

    @Test func stageDeadlineAfterTheInvoiceUndoesBothInTheForwardPathsReverseOrder() {
        var saga = saga(after: [.invoiced])
        expectApplied(&saga, .deadline("reserveTickets", 1), undoFirstStage(token: 2))
        #expect(saga.reason == "reservation_timeout")
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
    }

    @Test func stageDeadlineNamedForItsFirstStepStillFiresAfterThatStepAnswered() {
        var saga = runningSaga(at: .createInvoice)
        expectApplied(&saga, .deadline("reserveTickets", 1), undoFirstStage(token: 2))
        #expect(saga.reason == "invoice_timeout")
    }

    @Test func invoiceDeadlineCancelsTheInvoiceAndReleasesTheTickets() {
        var saga = runningSaga(at: .createInvoice)
        expectApplied(&saga, .deadline("createInvoice", 1), undoFirstStage(token: 2))
        #expect(saga.reason == "invoice_timeout")
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        expectApplied(&saga, .cancelled, [])
        expectApplied(&saga, .released, [reject("invoice_timeout")])
        #expect(saga.state == .compensated)
        #expect(saga.reason == "invoice_timeout")
    }

    @Test(arguments: ForwardStep.allCases)
    func timeoutReasonOfEachStep(step: ForwardStep) {
        var saga = runningSaga(at: step)
        _ = saga.handle(currentDeadline(of: saga))
        let expected: [ForwardStep: [ForwardStep]] = [
            .reserveTickets: [.createInvoice, .reserveTickets],
            .createInvoice: [.createInvoice, .reserveTickets],
            .chargePayment: [.chargePayment, .createInvoice, .reserveTickets],
        ]
        #expect(saga.reason == step.timeoutReason)
        #expect(saga.compensationQueue == expected[step])
    }
}

@Suite("Stale deadlines")
struct StaleDeadlineTests {
    @Test func oldTokenForTheCurrentStepIsIgnored() throws {
        var saga = runningSaga(at: .createInvoice)
        let why = try #require(expectIgnored(&saga, .deadline("createInvoice", 0)))
        #expect(why.contains("stale"))
        expectIgnored(&saga, .deadline("createInvoice", 2))
    }

    @Test func deadlineOfAPreviousStepIsIgnored() {
        var saga = runningSaga(at: .chargePayment)
        expectIgnored(&saga, .deadline("reserveTickets", 1))
        expectIgnored(&saga, .deadline("createInvoice", 1))
        expectIgnored(&saga, .deadline("reserveTickets", 2))
        #expect(saga.state == .running)
    }

    @Test func currentTokenForAnotherStepIsIgnored() {
        var saga = runningSaga(at: .createInvoice)
        expectIgnored(&saga, .deadline("chargePayment", 1))
        expectIgnored(&saga, .deadline("releaseTickets", 1))
        expectIgnored(&saga, .deadline("bogus", 1))
    }

    @Test func forwardDeadlineWhileCompensatingIsIgnored() {
        var saga = saga(after: declinedInputs)
        expectIgnored(&saga, .deadline("chargePayment", 2))
        expectIgnored(&saga, .deadline("chargePayment", 3))
    }

    @Test func supersededCompensationDeadlineIsIgnored() {
        var saga = saga(after: declinedInputs + [.deadline("cancelInvoice", 3)])
        #expect(saga.token == 4)
        expectIgnored(&saga, .deadline("cancelInvoice", 3))
        #expect(saga.compensationAttempts == 2)
    }

    @Test func aStagesDeadlineAfterOneAnswerResendsOnlyTheOther() {
        var saga = saga(after: declinedInputs + [.cancelled])
        expectIgnored(&saga, .deadline("cancelInvoice", 2))
        expectApplied(&saga, .deadline("cancelInvoice", 3), sendAndWait(Cmd.release, step: "releaseTickets", token: 4))
        #expect(saga.step == .compensation(.releaseTickets))
        #expect(saga.compensationAttempts == 2)
    }

    @Test func deadlineOfAnAnsweredStageIsIgnored() {
        var saga = saga(after: paymentTimeoutInputs + [.refunded])
        expectIgnored(&saga, .deadline("refundPayment", 3))
        #expect(saga.step == .compensation(.cancelInvoice))
    }

    @Test func deadlinesAfterCompensatedAreIgnored() {
        var saga = saga(after: paymentTimeoutCompensatedInputs)
        expectIgnored(&saga, .deadline("cancelInvoice", 4))
        expectIgnored(&saga, .deadline("finished", 4))
        expectIgnored(&saga, .deadline("chargePayment", 2))
    }
}
