-- Counted handlings (see BusConsumer): when a message's handling was last counted. For a short
-- lease after that, consumers in other processes leave the message to the one that counted it,
-- which claims it within milliseconds; without it, two processes counting at the same moment
-- could both count one handling. Nullable, so adding it rewrites nothing.
ALTER TABLE bus.messages ADD COLUMN counted_at timestamptz;
