-- Rentals: numbers kept for days to a year, their renewals, their messages,
-- and each account's event history. Instants are Unix microseconds from the
-- service's clock, never now().

-- One row per account that ever rented: the last event sequence number.
-- Every transaction that changes a rental or appends events takes this
-- row's lock first, so an account's changes are serialised and its events
-- commit in sequence order.
CREATE TABLE rental_accounts (
    account_id TEXT PRIMARY KEY,
    last_seq   BIGINT NOT NULL
);

CREATE TABLE rentals (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    fingerprint          TEXT NOT NULL,
    country_code         TEXT NOT NULL,
    -- The catalog's NumberType and RentalDuration numbers.
    number_type          BIGINT NOT NULL,
    service_code         TEXT NOT NULL,
    duration             BIGINT NOT NULL,
    renewal_duration     BIGINT NOT NULL,
    auto_renew           BIGINT NOT NULL CHECK (auto_renew IN (0, 1)),
    -- 1 CREATING, 2 ACTIVE, 3 EXPIRED, 4 CANCELLED, 5 FAILED (the proto's).
    status               BIGINT NOT NULL CHECK (status BETWEEN 1 AND 5),
    phone_number         TEXT NOT NULL,
    lease_id             TEXT,
    price                BIGINT NOT NULL CHECK (price >= 0),
    currency             TEXT NOT NULL,
    debit_id             TEXT,
    -- The wallet's balance right after the purchase's debit.
    balance_after        BIGINT,
    total_charged        BIGINT NOT NULL CHECK (total_charged >= 0),
    refunded             BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= total_charged),
    -- The wallet's balance right after the last refund.
    refund_balance_after BIGINT,
    sms_count            BIGINT NOT NULL,
    renewals             BIGINT NOT NULL,
    auto_renew_failure   TEXT NOT NULL,
    auto_renew_failed_at BIGINT,
    failure_reason       TEXT NOT NULL,
    failure_message      TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    ended_at             BIGINT,
    -- What is still owed after the status changed: 0 nothing, 1 release
    -- the number, 2 refund everything charged and release.
    settle               BIGINT NOT NULL CHECK (settle BETWEEN 0 AND 2),
    -- Until when a worker (or the request that created it) owns the row.
    claimed_until        BIGINT NOT NULL,
    UNIQUE (account_id, request_id)
);
CREATE INDEX rentals_by_account ON rentals (account_id, id DESC);
CREATE INDEX rentals_by_number ON rentals (account_id, phone_number);
CREATE INDEX rentals_expiring ON rentals (expires_at) WHERE status = 2;
CREATE INDEX rentals_creating ON rentals (claimed_until) WHERE status = 1;
CREATE INDEX rentals_unsettled ON rentals (claimed_until) WHERE settle <> 0;

-- Each charge to extend a rental: a customer's renewal (key
-- "request:<request_id>") or an auto-renew attempt (key
-- "auto:<period>:<attempt>"). The charge's idempotency key at the wallet
-- names the rental and this row, so no driver ever charges a row twice.
CREATE TABLE renewals (
    id            TEXT PRIMARY KEY,
    rental_id     TEXT NOT NULL REFERENCES rentals (id),
    account_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    -- The period it buys: the purchase is period 1.
    period        BIGINT NOT NULL,
    duration      BIGINT NOT NULL,
    price         BIGINT NOT NULL CHECK (price >= 0),
    currency      TEXT NOT NULL,
    from_expiry   BIGINT NOT NULL,
    to_expiry     BIGINT NOT NULL,
    -- 1 CHARGING, 2 APPLIED, 3 REFUSED, 4 REFUNDED (charged, then the
    -- rental could not be extended), 5 REFUNDING (that charge being given
    -- back).
    state         BIGINT NOT NULL CHECK (state BETWEEN 1 AND 5),
    debit_id      TEXT,
    balance_after BIGINT,
    failure_reason  TEXT NOT NULL,
    failure_message TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    UNIQUE (rental_id, key)
);
-- At most one renewal of a rental is being charged at a time.
CREATE UNIQUE INDEX renewals_one_in_flight ON renewals (rental_id) WHERE state = 1;
CREATE INDEX renewals_unfinished ON renewals (claimed_until) WHERE state IN (1, 5);

CREATE TABLE messages (
    id           TEXT PRIMARY KEY,
    rental_id    TEXT NOT NULL REFERENCES rentals (id),
    account_id   TEXT NOT NULL,
    inbound_id   TEXT NOT NULL UNIQUE,
    phone_number TEXT NOT NULL,
    sender       TEXT NOT NULL,
    body         TEXT NOT NULL,
    code         TEXT NOT NULL,
    service_code TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    stored_at    BIGINT NOT NULL
);
CREATE INDEX messages_by_rental ON messages (rental_id, id);
CREATE INDEX messages_by_number ON messages (account_id, phone_number, id);

-- What streams read: 1 a change of the rental (status), 2 a message.
CREATE TABLE events (
    account_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    rental_id  TEXT NOT NULL,
    kind       BIGINT NOT NULL CHECK (kind IN (1, 2)),
    status     BIGINT,
    message_id TEXT,
    at         BIGINT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX events_by_rental ON events (rental_id, seq);
CREATE INDEX events_messages ON events (account_id, seq) WHERE kind = 2;

-- Every event is announced to every rentals process on this database:
-- "<account>/<rental>", delivered at commit. The event stays the truth.
CREATE FUNCTION rentals_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('numhub_rentals', NEW.account_id || '/' || NEW.rental_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION rentals_notify_event();
