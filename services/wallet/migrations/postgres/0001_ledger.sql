-- The wallet's tables. Ids are UUIDv7 text and instants are Unix
-- microseconds, so the same queries run on PostgreSQL and SQLite.

CREATE TABLE accounts (
    account_id  TEXT PRIMARY KEY,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    -- The database itself refuses a negative balance.
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    -- Bumped by every change; a batch commits only if what it read is unchanged.
    version     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    entry_id      TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (account_id),
    kind          TEXT NOT NULL CHECK (kind IN ('credit', 'debit', 'refund')),
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reference     TEXT NOT NULL,
    refund_of     TEXT REFERENCES ledger_entries (entry_id),
    request_id    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    CHECK ((kind = 'debit') = (amount < 0)),
    CHECK ((kind = 'refund') = (refund_of IS NOT NULL))
);

CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, entry_id);
CREATE INDEX ledger_entries_by_refunded_debit ON ledger_entries (refund_of)
    WHERE refund_of IS NOT NULL;

-- The ledger is append-only: the database refuses to change or remove an entry.
CREATE FUNCTION ledger_entries_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_are_append_only();

-- The first outcome of every request, under the caller's key: a ledger entry
-- or the reason it was refused.
CREATE TABLE idempotency_keys (
    account_id     TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    entry_id       TEXT,
    reject_kind    TEXT,
    reject_message TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, request_id),
    CHECK ((entry_id IS NULL) <> (reject_kind IS NULL))
);

-- Only the purge of old keys reads by age, and keys arrive in time order: a
-- BRIN index serves it at almost no cost per insert.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys USING brin (created_at);

-- A batch writes its keys, entries and balances in one statement; this
-- aborts that statement (with a serialization failure, which the wallet
-- retries) when a concurrent writer took a key or changed an account first.
CREATE FUNCTION wallet_batch_applied(applied BOOLEAN) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT applied THEN
        RAISE EXCEPTION 'a concurrent writer changed what this batch read'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN TRUE;
END;
$$;
