-- The message bus: durable queues in one table, a dead-letter table, and the ledger of
-- messages each consumer has handled (idempotent consumption).
CREATE SCHEMA IF NOT EXISTS bus;

CREATE TABLE bus.messages (
    id            uuid PRIMARY KEY,
    queue         text        NOT NULL,
    type          text        NOT NULL,
    saga_id       uuid        NOT NULL,
    causation_id  uuid,
    payload       jsonb       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- When the message may be claimed next: its deliver-at time, its lease expiry while a
    -- consumer holds it, or its next retry after a failure.
    visible_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    -- Set by a claim; a consumer may acknowledge only while its token is still here.
    lease_token   uuid,
    last_error    text
);
CREATE INDEX messages_claim_idx ON bus.messages (queue, visible_at);

CREATE TABLE bus.dead_letters (
    id            uuid PRIMARY KEY,
    queue         text        NOT NULL,
    type          text        NOT NULL,
    saga_id       uuid        NOT NULL,
    causation_id  uuid,
    payload       jsonb       NOT NULL,
    headers       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    attempts      integer     NOT NULL,
    error         text        NOT NULL,
    dead_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_saga_idx ON bus.dead_letters (saga_id);

CREATE TABLE bus.processed_messages (
    consumer      text        NOT NULL,
    message_id    uuid        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
