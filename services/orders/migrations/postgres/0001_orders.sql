-- Orders: activations, their messages, and each account's event history.
-- Instants are Unix microseconds from the service's clock, never now().

-- One row per account that ever bought: the last event sequence number.
-- Every transaction that appends events takes this row's lock first, so an
-- account's events commit in sequence order and a stream reading "after
-- cursor" never skips one that commits late.
CREATE TABLE order_accounts (
    account_id TEXT PRIMARY KEY,
    last_seq   BIGINT NOT NULL
);

CREATE TABLE activations (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    fingerprint          TEXT NOT NULL,
    service_code         TEXT NOT NULL,
    country_code         TEXT NOT NULL,
    -- The operator asked for (empty: any) until a number is leased, then
    -- the number's own.
    operator             TEXT NOT NULL,
    max_price            BIGINT,
    -- The currency the limit was named in; empty: the catalog's.
    max_price_currency   TEXT NOT NULL,
    reused_activation_id TEXT,
    -- 1 CREATING, 2 WAITING, 3 RECEIVED, 4 FINISHED, 5 CANCELLED,
    -- 6 EXPIRED, 7 SKIPPED, 8 FAILED (the proto's numbers).
    status               BIGINT NOT NULL CHECK (status BETWEEN 1 AND 8),
    phone_number         TEXT NOT NULL,
    lease_id             TEXT,
    price                BIGINT NOT NULL CHECK (price >= 0),
    currency             TEXT NOT NULL,
    debit_id             TEXT,
    refunded             BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= price),
    code                 TEXT NOT NULL,
    sms_count            BIGINT NOT NULL,
    failure_reason       TEXT NOT NULL,
    failure_message      TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    ended_at             BIGINT,
    -- What is still owed to the outside world after the status changed:
    -- 0 nothing, 1 release the number, 2 refund and release, 3 refund,
    -- release and ban the number for the account (skip).
    settle               BIGINT NOT NULL CHECK (settle BETWEEN 0 AND 3),
    -- Until when a worker (or the request that created it) owns the row.
    claimed_until        BIGINT NOT NULL,
    UNIQUE (account_id, request_id)
);
CREATE INDEX activations_by_account ON activations (account_id, id DESC);
CREATE INDEX activations_open_by_account ON activations (account_id) WHERE status IN (1, 2, 3);
CREATE INDEX activations_expiring ON activations (expires_at) WHERE status IN (2, 3);
CREATE INDEX activations_creating ON activations (claimed_until) WHERE status = 1;
CREATE INDEX activations_unsettled ON activations (claimed_until) WHERE settle <> 0;

CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    activation_id TEXT NOT NULL REFERENCES activations (id),
    account_id    TEXT NOT NULL,
    inbound_id    TEXT NOT NULL UNIQUE,
    phone_number  TEXT NOT NULL,
    sender        TEXT NOT NULL,
    body          TEXT NOT NULL,
    code          TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    stored_at     BIGINT NOT NULL
);
CREATE INDEX messages_by_activation ON messages (activation_id, id);

-- What streams read: 1 a status change (status), 2 a message (message_id).
CREATE TABLE events (
    account_id    TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    activation_id TEXT NOT NULL,
    kind          BIGINT NOT NULL CHECK (kind IN (1, 2)),
    status        BIGINT,
    message_id    TEXT,
    at            BIGINT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX events_by_activation ON events (activation_id, seq);
CREATE INDEX events_messages ON events (account_id, seq) WHERE kind = 2;

-- Every event is announced to every orders process on this database (one
-- LISTEN connection each): "<account>/<activation>", delivered at commit.
-- The event itself stays the truth; the notification only says "look".
CREATE FUNCTION orders_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('numhub_orders', NEW.account_id || '/' || NEW.activation_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION orders_notify_event();
