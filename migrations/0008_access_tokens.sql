-- API access tokens. Only a SHA-256 of each token is stored; the token itself is shown once.
CREATE SCHEMA IF NOT EXISTS access;

CREATE TABLE access.tokens (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('client', 'operator')),
    token_hash  text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

GRANT USAGE ON SCHEMA access TO eventicket_api;
GRANT SELECT ON access.tokens TO eventicket_api;
