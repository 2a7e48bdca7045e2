-- The wallet's tables: the same shape as on PostgreSQL (see there).

CREATE TABLE accounts (
    account_id  TEXT PRIMARY KEY,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger_entries (
    entry_id      TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    kind          TEXT NOT NULL CHECK (kind IN ('credit', 'debit', 'refund')),
    amount        INTEGER NOT NULL CHECK (amount <> 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference     TEXT NOT NULL,
    refund_of     TEXT REFERENCES ledger_entries (entry_id),
    request_id    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    CHECK ((kind = 'debit') = (amount < 0)),
    CHECK ((kind = 'refund') = (refund_of IS NOT NULL))
) STRICT;

CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, entry_id);
CREATE INDEX ledger_entries_by_refunded_debit ON ledger_entries (refund_of)
    WHERE refund_of IS NOT NULL;

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;

CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;

CREATE TABLE idempotency_keys (
    account_id     TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    entry_id       TEXT,
    reject_kind    TEXT,
    reject_message TEXT,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, request_id),
    CHECK ((entry_id IS NULL) <> (reject_kind IS NULL))
) STRICT;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
