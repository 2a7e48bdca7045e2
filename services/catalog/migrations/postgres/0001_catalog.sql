-- The catalog: reference data, prices, the inventory of numbers and the
-- history of leases. Instants are Unix microseconds (BIGINT), flags 0/1
-- integers and enums small integers, as on SQLite, so one SQL text serves
-- both engines. Money is BIGINT minor units with its currency beside it.

CREATE TABLE services (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    domain     TEXT NOT NULL,
    disabled   BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    updated_at BIGINT NOT NULL
);

CREATE TABLE countries (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    dial_prefix TEXT NOT NULL,
    activate_id BIGINT NOT NULL UNIQUE,
    disabled    BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE operators (
    country_code TEXT NOT NULL REFERENCES countries (code),
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    disabled     BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (country_code, code)
);

-- operator '' is the price of any operator without one of its own.
CREATE TABLE activation_prices (
    service_code TEXT NOT NULL REFERENCES services (code),
    country_code TEXT NOT NULL REFERENCES countries (code),
    operator     TEXT NOT NULL,
    price        BIGINT NOT NULL CHECK (price > 0),
    currency     TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (service_code, country_code, operator)
);

-- service_code '' is the plan of any service without one of its own.
CREATE TABLE rental_plans (
    country_code   TEXT NOT NULL REFERENCES countries (code),
    number_type    BIGINT NOT NULL,
    service_code   TEXT NOT NULL,
    duration       BIGINT NOT NULL,
    price          BIGINT NOT NULL CHECK (price > 0),
    original_price BIGINT,
    currency       TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (country_code, number_type, service_code, duration)
);

CREATE TABLE numbers (
    id             TEXT PRIMARY KEY,
    e164           TEXT NOT NULL UNIQUE,
    country_code   TEXT NOT NULL REFERENCES countries (code),
    operator       TEXT NOT NULL,
    number_type    BIGINT NOT NULL,
    source         TEXT NOT NULL,
    -- When the number is free again: the end of its lease, plus the
    -- quarantine after a rental. Free when free_at <= now.
    free_at        BIGINT NOT NULL,
    -- Whether the stock counters count the number as free. Lease and
    -- Release keep it in step; the sweeper catches up with leases that end
    -- by time.
    counted_free   BIGINT NOT NULL CHECK (counted_free IN (0, 1)),
    -- Least recently leased numbers go first.
    last_leased_at BIGINT NOT NULL,
    lease_id       TEXT,
    created_at     BIGINT NOT NULL
);

CREATE INDEX numbers_to_lease ON numbers (country_code, last_leased_at, id);
CREATE INDEX numbers_newest ON numbers (country_code, id);
CREATE INDEX numbers_to_count ON numbers (free_at) WHERE counted_free = 0;

CREATE TABLE leases (
    id              TEXT PRIMARY KEY,
    kind            BIGINT NOT NULL,
    number_id       TEXT NOT NULL REFERENCES numbers (id),
    account_id      TEXT NOT NULL,
    holder_id       TEXT NOT NULL,
    service_code    TEXT NOT NULL,
    rental_duration BIGINT NOT NULL,
    price           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    released_at     BIGINT,
    -- released_at if released, else expires_at: the lease holds its number
    -- over [started_at, ended_at).
    ended_at        BIGINT NOT NULL
);

CREATE INDEX leases_by_number ON leases (number_id, started_at);

-- LeaseNumber's idempotency keys: the lease made, or the refusal.
CREATE TABLE lease_requests (
    account_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    lease_id    TEXT,
    rejection   TEXT,
    message     TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, request_id)
);

-- The purge forgets the oldest first.
CREATE INDEX lease_requests_by_age ON lease_requests (created_at);

-- Which services a number was ever leased for: never again for them.
CREATE TABLE number_usage (
    number_id     TEXT NOT NULL REFERENCES numbers (id),
    service_code  TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    first_used_at BIGINT NOT NULL,
    PRIMARY KEY (number_id, service_code)
);

-- Numbers an account never wants again.
CREATE TABLE skipped_numbers (
    account_id TEXT NOT NULL,
    number_id  TEXT NOT NULL REFERENCES numbers (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, number_id)
);

-- Stock counters, so listing stock never scans the inventory. Each counter
-- is split into slots that writers pick at random, so concurrent leases
-- rarely wait on one row; a reader sums the slots.
-- Free numbers per country, type and operator:
CREATE TABLE stock_free (
    country_code TEXT NOT NULL,
    number_type  BIGINT NOT NULL,
    operator     TEXT NOT NULL,
    slot         BIGINT NOT NULL,
    free         BIGINT NOT NULL,
    PRIMARY KEY (country_code, number_type, operator, slot)
);

-- Free numbers already used for a service, per country: the stock for a
-- service is the free count less this one.
CREATE TABLE stock_used (
    service_code TEXT NOT NULL,
    country_code TEXT NOT NULL,
    slot         BIGINT NOT NULL,
    free         BIGINT NOT NULL,
    PRIMARY KEY (service_code, country_code, slot)
);

-- A moving average of SMS arrival times per service and country.
CREATE TABLE arrival_stats (
    service_code TEXT NOT NULL,
    country_code TEXT NOT NULL,
    samples      BIGINT NOT NULL,
    average_ms   BIGINT NOT NULL,
    PRIMARY KEY (service_code, country_code)
);
