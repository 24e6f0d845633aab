-- A message whose handling ends its consumer's process (a crash, not a thrown error) or its
-- connection rolls back its own claim, so no failed delivery was ever recorded for it: it was
-- claimed again at once, first in the queue, for ever, and took the rest of its batch with it
-- each time. After a start, and after a batch ended with its connection, a consumer now counts
-- each message here, in a statement that commits, before its handler runs; the handler's
-- transaction removes the message (or puts a new copy back) when it ends, so a count that stays
-- is a handling that never ended. See BusConsumer's counted handlings.
ALTER TABLE bus.messages ADD COLUMN interruptions integer NOT NULL DEFAULT 0;
