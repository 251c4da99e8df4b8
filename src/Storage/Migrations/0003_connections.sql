-- Live connections, so that "online" is durable and a gateway that dies without saying goodbye
-- does not leave its users online forever: gateways renew last_seen; silos disconnect the
-- connections of gateways that stopped renewing.
CREATE TABLE IF NOT EXISTS chat.gateway (
    id          uuid        PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS chat.connection (
    database_id  bigint      NOT NULL,
    identity     bytea       NOT NULL,
    id           uuid        NOT NULL,
    gateway_id   uuid        NOT NULL,
    connected_at timestamptz NOT NULL,
    PRIMARY KEY (database_id, identity, id),
    FOREIGN KEY (database_id, identity) REFERENCES chat."user" (database_id, identity) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS connection_gateway ON chat.connection (gateway_id);
