-- The spend cap holds under concurrency (issue #14): a model request's estimated cost is reserved
-- here before the request is sent, under a per-workspace lock, and replaced by its ledger row (the
-- real cost) after. Turns running at once see each other's reservations, so together they can pass a
-- cap by at most one request's estimate. A reservation whose request never settled (its process
-- died) stops counting after a while (memory._spend.RESERVATION_TTL).
CREATE TABLE spend_reservations (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    estimate    numeric(12, 6) NOT NULL CHECK (estimate >= 0),
    created_at  timestamptz NOT NULL
);
CREATE INDEX spend_reservations_time ON spend_reservations (workspace, created_at);
