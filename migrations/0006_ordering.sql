-- Ordering: the orders clients placed and their outcome.
CREATE SCHEMA IF NOT EXISTS ordering;

CREATE TABLE ordering.orders (
    id               uuid PRIMARY KEY,
    saga_id          uuid        NOT NULL UNIQUE,
    customer_id      text        NOT NULL,
    event_id         uuid        NOT NULL,
    lines            jsonb       NOT NULL,
    total_cents      bigint      NOT NULL,
    currency         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    reason           text,
    idempotency_key  text UNIQUE,
    -- The canonical request body, to tell a replay from a different request under the same key.
    request          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
