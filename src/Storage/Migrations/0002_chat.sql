-- The chat module's tables: the source of truth that psql can query.
-- One row per published database; users and messages hang off its id, so deleting a database
-- removes its rows, and a database published again under the same name starts empty
-- (no late write for the old one can land in the new one: its id is gone).
CREATE SCHEMA IF NOT EXISTS chat;

CREATE TABLE IF NOT EXISTS chat.database (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL UNIQUE
                CHECK (length(name) <= 64 AND name ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    owner       bytea       NOT NULL CHECK (length(owner) = 32),
    created_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS chat."user" (
    database_id bigint  NOT NULL REFERENCES chat.database (id) ON DELETE CASCADE,
    identity    bytea   NOT NULL CHECK (length(identity) = 32),
    name        text,
    online      boolean NOT NULL,
    -- Set only when the database asks for unique names: the case-folded name. NULLs never collide.
    name_key    text,
    PRIMARY KEY (database_id, identity)
);
CREATE UNIQUE INDEX IF NOT EXISTS user_unique_name ON chat."user" (database_id, name_key) WHERE name_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS user_online ON chat."user" (database_id) WHERE online;

CREATE TABLE IF NOT EXISTS chat.message (
    database_id bigint      NOT NULL REFERENCES chat.database (id) ON DELETE CASCADE,
    "offset"    bigint      NOT NULL CHECK ("offset" > 0),
    sender      bytea       NOT NULL CHECK (length(sender) = 32),
    sent        timestamptz NOT NULL,
    text        text        NOT NULL,
    PRIMARY KEY (database_id, "offset")
);
CREATE INDEX IF NOT EXISTS message_sent ON chat.message (database_id, sent);
CREATE INDEX IF NOT EXISTS message_sender ON chat.message (database_id, sender);
