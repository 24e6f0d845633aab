-- A saga's history, one row per transition instead of one per entry: the entries a transition
-- added (the input it received or ignored, the state it moved to, the messages it sent) are a
-- JSON array in one row. A transition wrote 2–3 rows before, so a saga of 5 transitions wrote
-- about 10; now it writes 5 (and 5 primary-key entries). `json`, not `jsonb`: the array is
-- written on every transition and only read back whole, so it is kept as checked text rather
-- than converted to the binary form.
--
-- No foreign key to orchestrator.sagas: rows are written only by the statements that create or
-- update their saga (in the same statement), and the check would cost a key lookup and a
-- row lock on the saga for every transition.
CREATE TABLE orchestrator.saga_transitions (
    saga_id  uuid        NOT NULL,
    seq      integer     NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    entries  json        NOT NULL,
    PRIMARY KEY (saga_id, seq)
);

-- Existing history: each old entry becomes a transition of one entry, in the same order.
INSERT INTO orchestrator.saga_transitions (saga_id, seq, at, entries)
SELECT saga_id, seq, at,
       json_build_array(json_build_object('detail', detail, 'kind', kind, 'message', message, 'messageId', message_id))
  FROM orchestrator.saga_history;

DROP TABLE orchestrator.saga_history;

-- orchestrator.sagas.history_seq now counts transitions (the last seq written).
COMMENT ON COLUMN orchestrator.sagas.history_seq IS 'seq of the saga''s last row in orchestrator.saga_transitions';

GRANT SELECT, INSERT ON orchestrator.saga_transitions TO eventicket_api;
GRANT SELECT, INSERT, UPDATE ON orchestrator.saga_transitions TO eventicket_orchestrator;
