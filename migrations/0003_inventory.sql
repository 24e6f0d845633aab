-- Inventory: events, ticket types with their capacity, and one reservation per saga.
CREATE SCHEMA IF NOT EXISTS inventory;

CREATE TABLE inventory.events (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.ticket_types (
    id           uuid PRIMARY KEY,
    event_id     uuid    NOT NULL REFERENCES inventory.events (id),
    position     integer NOT NULL,
    name         text    NOT NULL,
    price_cents  bigint  NOT NULL CHECK (price_cents >= 0),
    currency     text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    capacity     integer NOT NULL CHECK (capacity >= 0),
    available    integer NOT NULL,
    CHECK (available >= 0 AND available <= capacity)
);
CREATE INDEX ticket_types_event_idx ON inventory.ticket_types (event_id, position);

CREATE TABLE inventory.reservations (
    saga_id     uuid PRIMARY KEY,
    order_id    uuid        NOT NULL,
    -- held: tickets taken from available; released: put back (or a release came first);
    -- rejected: not enough tickets, nothing taken.
    status      text        NOT NULL CHECK (status IN ('held', 'released', 'rejected')),
    lines       jsonb       NOT NULL,
    quantity    integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
