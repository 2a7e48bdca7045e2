-- Every SMS numhub received, and where routing took it. Instants are Unix
-- microseconds from the service's clock.
CREATE TABLE inbound_messages (
    id              TEXT PRIMARY KEY,
    upstream        TEXT NOT NULL,
    upstream_id     TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    sender          TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    stored_at       BIGINT NOT NULL,
    -- 1 PENDING, 2 ROUTED, 3 UNROUTED (the proto's numbers).
    state           BIGINT NOT NULL CHECK (state BETWEEN 1 AND 3),
    holder_id       TEXT NOT NULL,
    unrouted_reason TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    -- When a PENDING message is next tried, and until when a worker owns it.
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL,
    UNIQUE (upstream, upstream_id)
);
CREATE INDEX inbound_pending ON inbound_messages (next_attempt_at) WHERE state = 1;
CREATE INDEX inbound_unrouted ON inbound_messages (id DESC) WHERE state = 3;
