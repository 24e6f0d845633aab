-- Throughput: consumers claim batches inside their handling transaction (a claim is a row
-- lock, no lease token), step deadlines live in the orchestrator's own table instead of
-- travelling as delayed messages, and the tables that churn are tuned for it.

-- A claimed message is locked by its consumer's open transaction; there is no lease to store.
ALTER TABLE bus.messages DROP COLUMN lease_token;
-- Rows are inserted once and deleted once: vacuum early and often, without throttling.
-- Never truncate its empty tail: that needs an exclusive lock, which every claim then waits on.
ALTER TABLE bus.messages SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
                              autovacuum_vacuum_insert_scale_factor = 0.0, autovacuum_vacuum_insert_threshold = 50000,
                              autovacuum_vacuum_cost_delay = 0, vacuum_truncate = false);

-- The processed-messages ledger is pruned by age (see LedgerPruner); BRIN fits an append-only
-- timestamp and costs next to nothing on insert.
CREATE INDEX processed_messages_at_idx ON bus.processed_messages USING brin (processed_at);
ALTER TABLE bus.processed_messages SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 50000,
                                        autovacuum_vacuum_cost_delay = 0);

-- The step a saga waits on, and when it gives up waiting. One row per saga that waits; a
-- transition moves or deletes it in the transaction that stores the saga. `token` is the
-- saga's step token when the deadline was set, so a stale row is recognised.
CREATE TABLE orchestrator.deadlines (
    saga_id  uuid PRIMARY KEY REFERENCES orchestrator.sagas (id),
    due_at   timestamptz NOT NULL,
    token    integer     NOT NULL
);
CREATE INDEX deadlines_due_idx ON orchestrator.deadlines (due_at);
ALTER TABLE orchestrator.deadlines SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
                                        autovacuum_vacuum_cost_delay = 0, vacuum_truncate = false);
GRANT SELECT, INSERT, UPDATE, DELETE ON orchestrator.deadlines TO eventicket_orchestrator;
GRANT SELECT, INSERT ON orchestrator.deadlines TO eventicket_api;

-- The saga row keeps the number of its history entries, so appending needs no max(seq) lookup;
-- spare room on each page lets its frequent updates stay HOT.
ALTER TABLE orchestrator.sagas ADD COLUMN history_seq integer NOT NULL DEFAULT 0;
UPDATE orchestrator.sagas s
   SET history_seq = coalesce((SELECT max(seq) FROM orchestrator.saga_history h WHERE h.saga_id = s.id), 0);
ALTER TABLE orchestrator.sagas SET (fillfactor = 70);
-- Sagas waiting on a deadline that was a delayed StepDeadlineReached message before this
-- migration keep it: the orchestrator still accepts those messages.
