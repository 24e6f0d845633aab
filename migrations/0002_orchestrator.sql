-- The orchestrator's saga store.
CREATE SCHEMA IF NOT EXISTS orchestrator;

CREATE TABLE orchestrator.sagas (
    id          uuid PRIMARY KEY,
    type        text        NOT NULL DEFAULT 'order',
    order_id    uuid        NOT NULL UNIQUE,
    state       text        NOT NULL CHECK (state IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
    step        text        NOT NULL,
    reason      text,
    -- Set while the saga is failed: which compensation went unanswered.
    failure     text,
    -- The whole state machine value, as JSON.
    data        jsonb       NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sagas_state_created_idx ON orchestrator.sagas (state, created_at DESC, id DESC);
CREATE INDEX sagas_created_idx ON orchestrator.sagas (created_at DESC, id DESC);

CREATE TABLE orchestrator.saga_history (
    saga_id     uuid        NOT NULL REFERENCES orchestrator.sagas (id),
    seq         integer     NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind        text        NOT NULL CHECK (kind IN ('started', 'received', 'ignored', 'sent', 'state')),
    message     text        NOT NULL,
    message_id  uuid,
    detail      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (saga_id, seq)
);
