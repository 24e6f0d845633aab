import EvenTicketContracts
import Foundation

/// A message to publish, with where and when it is delivered.
public struct OutgoingMessage: Sendable, Equatable {
    public var envelope: Envelope
    public var queue: Queue
    /// Deliver no earlier than this long after the publishing transaction (delayed delivery).
    public var delay: Duration

    public init(envelope: Envelope, queue: Queue, delay: Duration = .zero) {
        self.envelope = envelope
        self.queue = queue
        self.delay = delay
    }

    /// Wraps a message for its own destination queue.
    public init<M: Message>(_ message: M, sagaID: UUID, causationID: UUID? = nil, delay: Duration = .zero) {
        self.init(envelope: Envelope(message, sagaID: sagaID, causationID: causationID), queue: M.destination, delay: delay)
    }
}
