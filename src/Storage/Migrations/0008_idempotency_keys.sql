-- Committed reducer calls that carried a client's idempotency key, written in the same statement (hence transaction) as
-- the call's effect, so a retry finds the first call's result exactly when that call committed. No foreign key, as for
-- messages (migration 0007): deleting a database deletes its records (ChatStore.DeleteDatabaseAsync); silos prune those
-- past the retention window.
CREATE TABLE IF NOT EXISTS chat.reducer_call (
    database_id     bigint      NOT NULL,
    identity        bytea       NOT NULL CHECK (length(identity) = 32),
    key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    reducer         text        NOT NULL,
    fingerprint     bytea       NOT NULL,
    at              timestamptz NOT NULL,
    message_offset  bigint,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (database_id, identity, key)
);
CREATE INDEX IF NOT EXISTS reducer_call_recorded_at ON chat.reducer_call (recorded_at);
