-- Invoicing: one invoice per saga, numbered from a sequence.
CREATE SCHEMA IF NOT EXISTS invoicing;

CREATE SEQUENCE invoicing.invoice_number_seq;

CREATE TABLE invoicing.invoices (
    saga_id       uuid PRIMARY KEY,
    order_id      uuid        NOT NULL,
    id            uuid        NOT NULL UNIQUE,
    -- NULL for a void placeholder written when a cancellation arrived before the invoice.
    number        text UNIQUE,
    customer_id   text        NOT NULL,
    amount_cents  bigint      NOT NULL,
    currency      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('issued', 'void')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    voided_at     timestamptz
);
