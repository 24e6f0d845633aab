-- A saga's deadline moves to its own row, and orchestrator.deadlines becomes the sweeper's
-- alarm clock.
--
-- Before: every transition that started a step rewrote the saga's row in orchestrator.deadlines
-- (an upsert: a new tuple, two index entries, its WAL, and a dead tuple for vacuum; about three
-- per saga), and inserting one checked the foreign key (a key lookup and a row lock on the saga).
--
-- Now: the deadline (`due_at`, with the token it fires with) is two columns of the saga row,
-- which every transition rewrites anyway; neither is indexed, so the update stays HOT. The
-- alarm row of a saga only says when to look at it next, and it is written only when it must
-- ring earlier than it would: when the saga starts, and when a new deadline comes before the
-- alarm (a compensation timeout shorter than the step timeout). The invariant, checked by
-- `eventicket audit` (deadline_alarm_late): a saga with a deadline has an alarm due no later
-- than it. When an alarm rings, the sweeper locks the saga and fires its deadline if that is
-- due, moves the alarm to the deadline if it is later, or drops the alarm if the saga has none.
-- A saga that ends drops its alarm in the same statement.
ALTER TABLE orchestrator.sagas
    ADD COLUMN due_at         timestamptz,
    ADD COLUMN deadline_token integer;

UPDATE orchestrator.sagas s SET due_at = d.due_at, deadline_token = d.token
  FROM orchestrator.deadlines d WHERE d.saga_id = s.id;

-- Alarms are written only by the statements that create or lock their saga, and sagas are never
-- deleted; the check cost a key lookup and a row lock on the saga for every saga started.
ALTER TABLE orchestrator.deadlines DROP CONSTRAINT deadlines_saga_id_fkey;
ALTER TABLE orchestrator.deadlines DROP COLUMN token;

COMMENT ON TABLE orchestrator.deadlines IS
    'alarms: when the deadline sweeper next looks at a saga; never later than the saga''s due_at';
COMMENT ON COLUMN orchestrator.sagas.due_at IS 'when the current step times out (NULL: no deadline)';
COMMENT ON COLUMN orchestrator.sagas.deadline_token IS 'the token the deadline fires with (the step''s)';
