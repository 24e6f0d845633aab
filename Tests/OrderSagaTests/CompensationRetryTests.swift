import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

/// Lets every send of the current compensation time out until the saga fails.
/// Returns the decisions of all the deadlines, the last one being the failure.
func timeOutUntilFailed(_ saga: inout OrderSaga) -> [OrderSaga.Decision] {
    var decisions: [OrderSaga.Decision] = []
    for _ in 0..<OrderSaga.maxCompensationAttempts {
        decisions.append(saga.handle(currentDeadline(of: saga)))
    }
    return decisions
}

@Suite("Compensation deadlines")
struct CompensationDeadlineTests {
    @Test func maxAttemptsIsFive() {
        #expect(OrderSaga.maxCompensationAttempts == 5)
    }

    @Test func compensationIsResentWithANewTokenAndDeadline() {
        var saga = saga(after: declinedInputs)
        #expect(saga.token == 3)
        for attempt in 2...OrderSaga.maxCompensationAttempts {
            let token = saga.token
            expectApplied(&saga, .deadline("cancelInvoice", token), undoFirstStage(token: token + 1))
            #expect(saga.token == token + 1)
            #expect(saga.compensationAttempts == attempt)
            #expect(saga.state == .compensating)
            #expect(saga.step == .compensation(.cancelInvoice))
            #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        }
    }

    @Test func compensationIsSentMaxAttemptsTimesInAllThenFails() {
        var saga = saga(after: [.reserved, .invoiced])
        var sends = saga.handle(.declined()).actions.filter { $0 == .send(Cmd.cancel) }.count
        let decisions = timeOutUntilFailed(&saga)
        sends += decisions.flatMap(\.actions).filter { $0 == .send(Cmd.cancel) }.count
        #expect(sends == OrderSaga.maxCompensationAttempts)
        #expect(decisions.allSatisfy { $0.ignoredBecause == nil })
        #expect(decisions.last?.actions == [reject("payment_declined")])
    }

    @Test func exhaustedCompensationFailsTheSaga() throws {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        #expect(saga.state == .failed)
        #expect(saga.state.isTerminal)
        #expect(saga.step == .compensation(.cancelInvoice))
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        #expect(saga.token == 7)
        #expect(saga.compensationAttempts == OrderSaga.maxCompensationAttempts)
        #expect(saga.reason == "payment_declined")
        #expect(saga.failure == "compensation_failed: cancelInvoice unanswered after 5 attempts")
    }

    @Test func failureRejectsWithTheOriginalReason() {
        var saga = saga(after: [.deadline("reserveTickets", 1)])
        let decisions = timeOutUntilFailed(&saga)
        #expect(decisions.last?.actions == [reject("reservation_timeout")])
        #expect(saga.state == .failed)
        #expect(saga.reason == "reservation_timeout")
        #expect(saga.failure?.hasPrefix("compensation_failed: cancelInvoice") == true)
    }

    @Test func attemptsRestartForTheNextCompensationStage() {
        var saga = saga(after: paymentTimeoutInputs)
        _ = saga.handle(currentDeadline(of: saga))
        _ = saga.handle(currentDeadline(of: saga))
        #expect(saga.compensationAttempts == 3)
        _ = saga.handle(.refunded)
        #expect(saga.compensationAttempts == 1)
        #expect(saga.step == .compensation(.cancelInvoice))
        let decisions = timeOutUntilFailed(&saga)
        #expect(decisions.dropLast().allSatisfy { Array($0.actions.prefix(2)) == [.send(Cmd.cancel), .send(Cmd.release)] })
        #expect(saga.state == .failed)
    }

    @Test func attemptsAreCountedPerStageNotPerStep() {
        var saga = saga(after: declinedInputs)
        _ = saga.handle(currentDeadline(of: saga))
        _ = saga.handle(.cancelled)
        #expect(saga.compensationAttempts == 2)
        #expect(saga.step == .compensation(.releaseTickets))
    }

    @Test func replyAfterAResendMovesOn() {
        var saga = saga(after: declinedInputs + [.deadline("cancelInvoice", 3), .deadline("cancelInvoice", 4)])
        expectApplied(&saga, .cancelled, [])
        expectApplied(&saga, .released, [reject("payment_declined")])
        #expect(saga.state == .compensated)
        #expect(saga.reason == "payment_declined")
    }

    @Test func aLateReplyLetsAFailedSagaCarryOn() {
        var saga = saga(after: paymentTimeoutInputs)
        _ = timeOutUntilFailed(&saga)
        #expect(saga.failure == "compensation_failed: refundPayment unanswered after 5 attempts")
        let token = saga.token
        expectApplied(&saga, .refunded, undoFirstStage(token: token + 1))
        #expect(saga.state == .compensating)
        #expect(saga.failure == nil)
        expectApplied(&saga, .cancelled, [])
        expectApplied(&saga, .released, [reject("payment_timeout")])
        #expect(saga.state == .compensated)
    }

    @Test func aLateReplyForOneOfAStagesStuckCompensationsLeavesTheSagaFailedOnTheOther() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        #expect(saga.failure == "compensation_failed: cancelInvoice unanswered after 5 attempts")
        expectApplied(&saga, .cancelled, [])
        #expect(saga.state == .failed)
        #expect(saga.step == .compensation(.releaseTickets))
        #expect(saga.failure == "compensation_failed: releaseTickets unanswered after 5 attempts")
        expectApplied(&saga, .released, [reject("payment_declined")])
        #expect(saga.state == .compensated)
        #expect(saga.failure == nil)
    }

    @Test func failedSagaIgnoresFurtherDeadlines() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        expectIgnored(&saga, currentDeadline(of: saga))
        expectIgnored(&saga, .deadline("cancelInvoice", 6))
    }

    @Test func failedSagaIgnoresForwardRepliesForQueuedSteps() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        expectIgnored(&saga, .reserved)
        expectIgnored(&saga, .invoiced)
        expectIgnored(&saga, .declined())
    }
}

@Suite("Operator retry")
struct OperatorRetryTests {
    @Test func retryResumesTheSameCompensationStep() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        expectApplied(&saga, .operatorRetry, undoFirstStage(token: 8))
        #expect(saga.state == .compensating)
        #expect(saga.step == .compensation(.cancelInvoice))
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
        #expect(saga.compensationAttempts == 1)
        #expect(saga.token == 8)
        #expect(saga.failure == nil)
        #expect(saga.reason == "payment_declined")
    }

    @Test func retryResumesAMidQueueStep() {
        var saga = saga(after: paymentTimeoutInputs + [.refunded])
        _ = timeOutUntilFailed(&saga)
        #expect(saga.state == .failed)
        let token = saga.token
        expectApplied(&saga, .operatorRetry, undoFirstStage(token: token + 1))
        #expect(saga.compensationQueue == [.createInvoice, .reserveTickets])
    }

    @Test func retryResendsOnlyTheStagesUnansweredCompensation() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        _ = saga.handle(.cancelled)
        let token = saga.token
        expectApplied(&saga, .operatorRetry, sendAndWait(Cmd.release, step: "releaseTickets", token: token + 1))
    }

    @Test func retryRestoresTheFullAttemptBudget() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        _ = saga.handle(.operatorRetry)
        for _ in 1..<OrderSaga.maxCompensationAttempts {
            let decision = saga.handle(currentDeadline(of: saga))
            #expect(decision.actions.first == .send(Cmd.cancel))
            #expect(saga.state == .compensating)
        }
        _ = saga.handle(currentDeadline(of: saga))
        #expect(saga.state == .failed)
    }

    @Test func deadlineFromBeforeTheRetryIsStale() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        let old = currentDeadline(of: saga)
        _ = saga.handle(.operatorRetry)
        expectIgnored(&saga, old)
    }

    @Test func retriedCompensationCanFinish() {
        var saga = saga(after: declinedInputs)
        _ = timeOutUntilFailed(&saga)
        _ = saga.handle(.operatorRetry)
        expectApplied(&saga, .cancelled, [])
        let decision = saga.handle(.released)
        #expect(decision.ignoredBecause == nil)
        #expect(decision.actions.count == 1)
        guard case .rejectOrder(let rejected) = decision.actions.first else {
            Issue.record("expected a rejectOrder, got \(decision.actions)")
            return
        }
        #expect(rejected.orderID == Fixture.orderID)
        #expect(rejected.reason == "payment_declined")
        #expect(saga.reason == "payment_declined")
        #expect(saga.failure == nil)
        #expect(saga.state == .compensated)
        #expect(saga.step == .finished)
        #expect(saga.compensationQueue.isEmpty)
    }

    @Test(arguments: [
        ("running at reserve", [SagaInput]()),
        ("running at charge", [.reserved, .invoiced]),
        ("compensating", declinedInputs),
        ("completed", completedInputs),
        ("compensated", paymentTimeoutCompensatedInputs),
    ] as [(String, [SagaInput])])
    func retryOnANonFailedSagaIsIgnored(label: String, inputs: [SagaInput]) throws {
        var saga = saga(after: inputs)
        let why = try #require(expectIgnored(&saga, .operatorRetry))
        #expect(why.contains("failed"))
    }
}
