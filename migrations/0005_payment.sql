-- Payment: one charge per saga, and the simulated gateway's ledger of money moved.
CREATE SCHEMA IF NOT EXISTS payment;

CREATE TABLE payment.charges (
    saga_id         uuid PRIMARY KEY,
    order_id        uuid        NOT NULL,
    id              uuid        NOT NULL UNIQUE,
    amount_cents    bigint      NOT NULL,
    currency        text        NOT NULL,
    -- pending: sent to the gateway, no answer yet; charged; failed (declined);
    -- refunded; cancelled: a refund arrived before any charge.
    status          text        NOT NULL CHECK (status IN ('pending', 'charged', 'failed', 'refunded', 'cancelled')),
    failure_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every movement of money at the gateway: charges positive, refunds negative.
CREATE TABLE payment.gateway_ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga_id       uuid        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents  bigint      NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_ledger_saga_idx ON payment.gateway_ledger (saga_id);
