-- A message whose handling ends its consumer's process (a crash, not a thrown error) or its
-- connection rolls back its own claim, so no failed delivery was ever recorded for it: it was
-- claimed again at once, first in the queue, for ever, and took the rest of its batch with it
-- each time. After a start, and after a batch ended with its connection, a consumer now counts
-- each message here, in a statement that commits, before its handler runs; the handler's
-- transaction removes the message (or puts a new copy back) when it ends, so a count that stays
-- is a handling that never ended. See BusConsumer's counted handlings.
ALTER TABLE bus.messages ADD COLUMN interruptions integer NOT NULL DEFAULT 0;

-- Counted handlings take a queue's oldest message in publish order (by id within one
-- visible_at, which every message of a transaction shares); the claims take the oldest. One
-- index serves both, in place of the claims' own.
CREATE INDEX messages_claim_order_idx ON bus.messages (queue, visible_at, id);
DROP INDEX bus.messages_claim_idx;
