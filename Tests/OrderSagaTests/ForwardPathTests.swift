import EvenTicketContracts
import Foundation
import OrderSaga
import Testing

@Suite("Start")
struct StartTests {
    @Test func startSendsReserveTicketsAndCreateInvoiceUnderOneDeadlineWithTokenOne() {
        let (_, actions) = OrderSaga.start(id: Fixture.sagaID, order: Fixture.order)
        #expect(actions == startActions)
    }

    @Test func stagesRunReservationAndInvoiceSideBySideThenTheCharge() {
        #expect(ForwardStep.stages == [[.reserveTickets, .createInvoice], [.chargePayment]])
        #expect(ForwardStep.stages.flatMap { $0 } == ForwardStep.allCases)
        #expect(ForwardStep.createInvoice.stage == [.reserveTickets, .createInvoice])
        #expect(ForwardStep.chargePayment.stage == [.chargePayment])
    }

    @Test func startedSagaWaitsOnReservation() {
        let (saga, _) = OrderSaga.start(id: Fixture.sagaID, order: Fixture.order)
        #expect(saga.id == Fixture.sagaID)
        #expect(saga.order == Fixture.order)
        #expect(saga.state == .running)
        #expect(saga.step == .forward(.reserveTickets))
        #expect(saga.awaitedSteps == [.reserveTickets, .createInvoice])
        #expect(saga.finishedSteps.isEmpty)
        #expect(saga.compensationQueue.isEmpty)
        #expect(saga.reason == nil)
        #expect(saga.token == 1)
        #expect(saga.compensationAttempts == 0)
    }

    @Test func reserveCommandCarriesTheOrderLines() throws {
        let (_, actions) = OrderSaga.start(id: Fixture.sagaID, order: Fixture.order)
        guard case .send(.reserveTickets(let command)) = try #require(actions.first) else {
            Issue.record("first action is not ReserveTickets: \(actions)")
            return
        }
        #expect(command.orderID == Fixture.orderID)
        #expect(command.eventID == Fixture.eventID)
        #expect(command.lines == Fixture.lines)
    }
}

@Suite("Happy path")
struct HappyPathTests {
    @Test func ticketsReservedAloneWaitsForTheInvoice() {
        var saga = startedSaga()
        expectApplied(&saga, .reserved, [])
        #expect(saga.state == .running)
        #expect(saga.step == .forward(.createInvoice))
        #expect(saga.awaitedSteps == [.createInvoice])
        #expect(saga.finishedSteps == [.reserveTickets])
        #expect(saga.token == 1)
    }

    @Test func invoiceCreatedAloneWaitsForTheReservation() {
        var saga = startedSaga()
        expectApplied(&saga, .invoiced, [])
        #expect(saga.state == .running)
        #expect(saga.step == .forward(.reserveTickets))
        #expect(saga.awaitedSteps == [.reserveTickets])
        #expect(saga.finishedSteps == [.createInvoice])
        #expect(saga.token == 1)
    }

    @Test func ticketsReservedAfterTheInvoiceChargesPayment() {
        var saga = saga(after: [.invoiced])
        expectApplied(&saga, .reserved, sendAndWait(Cmd.charge, step: "chargePayment", token: 2))
        #expect(saga.step == .forward(.chargePayment))
        #expect(saga.finishedSteps == [.createInvoice, .reserveTickets])
    }

    @Test func createInvoiceAmountIsTheTotalNotTheTicketCount() throws {
        let (_, actions) = OrderSaga.start(id: Fixture.sagaID, order: Fixture.order)
        guard case .send(.createInvoice(let command)) = actions[1] else {
            Issue.record("second action is not CreateInvoice: \(actions)")
            return
        }
        #expect(command.amountCents == Fixture.order.totalCents)
        #expect(command.currency == "EUR")
        #expect(command.customerID == "cust-42")
    }

    @Test func invoiceCreatedChargesPaymentWithTheOrdersToken() {
        var saga = runningSaga(at: .createInvoice)
        expectApplied(&saga, .invoiced, sendAndWait(Cmd.charge, step: "chargePayment", token: 2))
        #expect(saga.state == .running)
        #expect(saga.step == .forward(.chargePayment))
        #expect(saga.finishedSteps == [.reserveTickets, .createInvoice])
        #expect(saga.token == 2)
    }

    @Test func paymentTokenIsPassedThroughVerbatim() throws {
        let order = OrderPlaced(
            orderID: Fixture.orderID, customerID: "c", eventID: Fixture.eventID, lines: Fixture.lines,
            totalCents: 999, currency: "USD", paymentToken: "tok_other_Token_9")
        var (saga, _) = OrderSaga.start(id: Fixture.sagaID, order: order)
        _ = saga.handle(.reserved)
        let decision = saga.handle(.invoiced)
        #expect(decision.actions.first == .send(.chargePayment(ChargePayment(
            orderID: Fixture.orderID, amountCents: 999, currency: "USD", paymentToken: "tok_other_Token_9"))))
    }

    @Test func paymentChargedCompletesAndConfirms() {
        var saga = runningSaga(at: .chargePayment)
        expectApplied(&saga, .charged, [confirm])
        #expect(saga.state == .completed)
        #expect(saga.step == .finished)
        #expect(saga.finishedSteps == [.reserveTickets, .createInvoice, .chargePayment])
        #expect(saga.compensationQueue.isEmpty)
        #expect(saga.reason == nil)
        #expect(saga.token == 2)
        #expect(saga.state.isTerminal)
    }

    @Test func completedSagaIgnoresItsOldDeadlines() {
        var saga = saga(after: completedInputs)
        expectIgnored(&saga, .deadline("chargePayment", 2))
        expectIgnored(&saga, .deadline("createInvoice", 1))
        expectIgnored(&saga, .deadline("reserveTickets", 1))
        expectIgnored(&saga, .deadline("finished", 2))
        #expect(saga.state == .completed)
    }

    @Test func completedSagaIgnoresLateFailures() {
        var saga = saga(after: completedInputs)
        expectIgnored(&saga, .declined())
        expectIgnored(&saga, .unavailable())
    }
}
