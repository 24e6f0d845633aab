import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

@Suite("Duplicate replies")
struct DuplicateReplyTests {
    @Test(arguments: [ForwardStep.createInvoice, .chargePayment])
    func secondTicketsReservedIsIgnored(at step: ForwardStep) throws {
        var saga = runningSaga(at: step)
        let why = try #require(expectIgnored(&saga, .reserved))
        #expect(why.contains("duplicate"))
        #expect(saga.finishedSteps.filter { $0 == .reserveTickets }.count == 1)
    }

    @Test func secondInvoiceCreatedIsIgnored() {
        var saga = runningSaga(at: .chargePayment)
        expectIgnored(&saga, .invoiced)
        #expect(saga.step == .forward(.chargePayment))
    }

    @Test func duplicatePaymentChargedAfterCompletedIsIgnoredAndNeverRefunds() {
        var saga = saga(after: completedInputs)
        let decision = saga.handle(.charged)
        #expect(decision.ignoredBecause != nil)
        #expect(decision.actions.isEmpty)
        #expect(!decision.actions.contains(.send(Cmd.refund)))
        #expect(saga.state == .completed)
        expectIgnored(&saga, .charged)
    }

    @Test func earlierForwardRepliesAfterCompletedAreIgnored() {
        var saga = saga(after: completedInputs)
        expectIgnored(&saga, .reserved)
        expectIgnored(&saga, .invoiced)
    }

    @Test func replyForAStepNotYetStartedIsIgnored() {
        var saga = runningSaga(at: .reserveTickets)
        expectIgnored(&saga, .charged)
        #expect(saga.step == .forward(.reserveTickets))
        var waitingOnTheInvoice = runningSaga(at: .createInvoice)
        expectIgnored(&waitingOnTheInvoice, .charged)
    }

    @Test func compensationRepliesWhileRunningAreIgnored() {
        var saga = runningSaga(at: .chargePayment)
        expectIgnored(&saga, .released)
        expectIgnored(&saga, .cancelled)
        expectIgnored(&saga, .refunded)
    }

    @Test func compensationReplyForAnotherStepIsIgnored() throws {
        var saga = saga(after: paymentTimeoutInputs)
        let why = try #require(expectIgnored(&saga, .released))
        #expect(why.contains("releaseTickets"))
        expectIgnored(&saga, .cancelled)
        #expect(saga.step == .compensation(.refundPayment))
        var declined = OrderSagaTests.saga(after: declinedInputs)
        expectIgnored(&declined, .refunded)
    }

    @Test func duplicateCompensationRepliesAreIgnored() {
        var saga = saga(after: paymentTimeoutInputs + [.refunded])
        expectIgnored(&saga, .refunded)
        _ = saga.handle(.cancelled)
        expectIgnored(&saga, .cancelled)
        expectIgnored(&saga, .refunded)
        #expect(saga.step == .compensation(.releaseTickets))
        expectApplied(&saga, .released, [reject("payment_timeout")])
        expectIgnored(&saga, .released)
        expectIgnored(&saga, .cancelled)
        expectIgnored(&saga, .refunded)
        #expect(saga.state == .compensated)
    }

    @Test func compensationRepliesAfterCompletedAreIgnored() {
        var saga = saga(after: completedInputs)
        expectIgnored(&saga, .released)
        expectIgnored(&saga, .cancelled)
        expectIgnored(&saga, .refunded)
    }
}

@Suite("Late events")
struct LateEventTests {
    @Test func paymentChargedAfterCompensatedRefundsWithoutChangingState() {
        var saga = saga(after: paymentTimeoutCompensatedInputs)
        let before = saga
        expectApplied(&saga, .charged, [.send(Cmd.refund)])
        #expect(saga == before)
        #expect(saga.state == .compensated)
        #expect(saga.step == .finished)
        #expect(saga.token == 4)
    }

    @Test func ticketsReservedAfterCompensatedReleases() {
        var saga = saga(after: [.deadline("reserveTickets", 1), .cancelled, .released])
        #expect(saga.state == .compensated)
        let before = saga
        expectApplied(&saga, .reserved, [.send(Cmd.release)])
        #expect(saga == before)
    }

    @Test func ticketsReservedAfterUnavailableReleases() {
        var saga = saga(after: [.unavailable()])
        let before = saga
        expectApplied(&saga, .reserved, [.send(Cmd.release)])
        #expect(saga == before)
    }

    @Test func invoiceCreatedAfterUnavailableIsLeftToTheCancellationUnderWay() throws {
        var saga = saga(after: [.unavailable()])
        #expect(saga.step == .compensation(.cancelInvoice))
        let why = try #require(expectIgnored(&saga, .invoiced))
        #expect(why.contains("compensated"))
    }

    @Test func invoiceCreatedAfterCompensatedCancels() {
        var saga = saga(after: [.reserved, .deadline("createInvoice", 1), .cancelled, .released])
        #expect(saga.state == .compensated)
        let before = saga
        expectApplied(&saga, .invoiced, [.send(Cmd.cancel)])
        #expect(saga == before)
    }

    @Test func lateSuccessForAStepStillInTheQueueIsIgnored() throws {
        var saga = saga(after: paymentTimeoutInputs)
        #expect(saga.compensationQueue == [.chargePayment, .createInvoice, .reserveTickets])
        let why = try #require(expectIgnored(&saga, .charged))
        #expect(why.contains("compensated"))
        expectIgnored(&saga, .invoiced)
        expectIgnored(&saga, .reserved)
        #expect(saga.step == .compensation(.refundPayment))
    }

    @Test func lateReservationWhileItsReleaseIsPendingIsIgnored() {
        var saga = saga(after: [.deadline("reserveTickets", 1)])
        expectIgnored(&saga, .reserved)
    }

    @Test func lateSuccessForAnAlreadyCompensatedStepIsCompensatedAgainMidCompensation() {
        var saga = saga(after: [.reserved, .deadline("createInvoice", 1), .cancelled])
        #expect(saga.step == .compensation(.releaseTickets))
        #expect(saga.compensationQueue == [.reserveTickets])
        let before = saga
        expectApplied(&saga, .invoiced, [.send(Cmd.cancel)])
        #expect(saga == before)
        expectIgnored(&saga, .reserved)
    }

    @Test func paymentChargedAfterDeclineIsRefunded() {
        var saga = saga(after: declinedInputs)
        #expect(!saga.compensationQueue.contains(.chargePayment))
        let before = saga
        expectApplied(&saga, .charged, [.send(Cmd.refund)])
        #expect(saga == before)
    }

    @Test func lateFailuresAfterCompensatedAreIgnored() {
        var saga = saga(after: paymentTimeoutCompensatedInputs)
        expectIgnored(&saga, .declined("payment_cancelled"))
        expectIgnored(&saga, .unavailable("reservation_cancelled"))
        #expect(saga.reason == "payment_timeout")
    }
}
