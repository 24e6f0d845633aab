import Foundation

// Each message's JSON, written and read directly (see `JSONWritable`): members in key order,
// the keys being the property names, as `Codable` names them.

extension OrderLine: JSONWritable, JSONReadable {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("quantity", quantity)
            json.member("ticketTypeID", ticketTypeID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(ticketTypeID: try json.uuid("ticketTypeID"), quantity: try json.int("quantity", in: OrderLine.quantities))
    }
}

// MARK: Commands

extension ReserveTickets {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("eventID", eventID)
            json.member("lines", lines)
            json.member("orderID", orderID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), eventID: try json.uuid("eventID"), lines: try json.array("lines", counts: OrderLine.lineCounts))
    }
}

extension ReleaseTickets {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension CreateInvoice {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("amountCents", amountCents)
            json.member("currency", currency)
            json.member("customerID", customerID)
            json.member("orderID", orderID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), customerID: try json.string("customerID"),
                  amountCents: try json.int("amountCents", in: AmountCents.range), currency: try json.string("currency"))
    }
}

extension CancelInvoice {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension ChargePayment {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("amountCents", amountCents)
            json.member("currency", currency)
            json.member("orderID", orderID)
            json.member("paymentToken", paymentToken)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), amountCents: try json.int("amountCents", in: AmountCents.range),
                  currency: try json.string("currency"), paymentToken: try json.string("paymentToken"))
    }
}

extension RefundPayment {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension SettleSlowCharge {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension StepDeadlineReached {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("step", step)
            json.member("token", token)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(step: try json.string("step"), token: try json.int("token"))
    }
}

// MARK: Events

extension OrderPlaced {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("currency", currency)
            json.member("customerID", customerID)
            json.member("eventID", eventID)
            json.member("lines", lines)
            json.member("orderID", orderID)
            json.member("paymentToken", paymentToken)
            json.member("totalCents", totalCents)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), customerID: try json.string("customerID"), eventID: try json.uuid("eventID"),
                  lines: try json.array("lines", counts: OrderLine.lineCounts), totalCents: try json.int("totalCents", in: AmountCents.range),
                  currency: try json.string("currency"),
                  paymentToken: try json.string("paymentToken"))
    }
}

extension TicketsReserved {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("orderID", orderID)
            json.member("quantity", quantity)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), quantity: try json.int("quantity"))
    }
}

extension TicketsUnavailable {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("orderID", orderID)
            json.member("reason", reason)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), reason: try json.string("reason"))
    }
}

extension TicketsReleased {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("orderID", orderID)
            json.member("quantity", quantity)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), quantity: try json.int("quantity"))
    }
}

extension InvoiceCreated {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("invoiceID", invoiceID)
            json.member("invoiceNumber", invoiceNumber)
            json.member("orderID", orderID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), invoiceID: try json.uuid("invoiceID"), invoiceNumber: try json.string("invoiceNumber"))
    }
}

extension InvoiceCancelled {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension PaymentCharged {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("amountCents", amountCents)
            json.member("chargeID", chargeID)
            json.member("orderID", orderID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), chargeID: try json.uuid("chargeID"), amountCents: try json.int("amountCents"))
    }
}

extension PaymentFailed {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("orderID", orderID)
            json.member("reason", reason)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), reason: try json.string("reason"))
    }
}

extension PaymentRefunded {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("amountCents", amountCents)
            json.member("orderID", orderID)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), amountCents: try json.int("amountCents"))
    }
}

extension OrderConfirmed {
    public func writeJSON(to json: inout JSONWriter) { json.object { $0.member("orderID", orderID) } }
    public init(json: JSONObjectReader) throws { self.init(orderID: try json.uuid("orderID")) }
}

extension OrderRejected {
    public func writeJSON(to json: inout JSONWriter) {
        json.object { json in
            json.member("orderID", orderID)
            json.member("reason", reason)
        }
    }

    public init(json: JSONObjectReader) throws {
        self.init(orderID: try json.uuid("orderID"), reason: try json.string("reason"))
    }
}
