-- Accounts and their API keys. Instants are Unix microseconds (BIGINT) and
-- flags 0/1 integers, as on SQLite, so one SQL text serves both engines.

CREATE TABLE accounts (
    id                        TEXT PRIMARY KEY,
    display_name              TEXT NOT NULL,
    is_operator               INTEGER NOT NULL DEFAULT 0 CHECK (is_operator IN (0, 1)),
    requests_per_minute       INTEGER NOT NULL CHECK (requests_per_minute > 0),
    money_requests_per_minute INTEGER NOT NULL CHECK (money_requests_per_minute > 0),
    -- CreateAccount's idempotency key and the fingerprint of its fields.
    request_id                TEXT NOT NULL UNIQUE,
    fingerprint               TEXT NOT NULL,
    created_at                INTEGER NOT NULL
);

-- One operator account at most.
CREATE UNIQUE INDEX accounts_one_operator ON accounts (is_operator) WHERE is_operator = 1;

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    name           TEXT NOT NULL,
    -- Comma-separated scope names: read, write, admin.
    scopes         TEXT NOT NULL,
    -- The key's first random characters: finds the row, cannot use the key.
    selector       TEXT NOT NULL UNIQUE,
    -- SHA-256 of the whole key, compared in constant time. The key itself is
    -- never stored.
    verifier       TEXT NOT NULL,
    display_prefix TEXT NOT NULL,
    -- 1 for the key configured as NUMHUB_ADMIN_KEY or printed at first start.
    bootstrap      INTEGER NOT NULL DEFAULT 0 CHECK (bootstrap IN (0, 1)),
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);

CREATE INDEX api_keys_by_account ON api_keys (account_id, id);
