-- Anonymous users expire (issue 12): a Connect without a token makes a user row, so a flood of them would grow a
-- database without bound. Users that never set a name, are offline, have sent no message and have not been seen for the
-- retention period are deleted by the silos (ChatStore.ExpireUsersAsync). last_seen is set by identity_connected and
-- identity_disconnected; rows that exist now count as seen at this migration.
ALTER TABLE chat."user" ADD COLUMN IF NOT EXISTS last_seen timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS user_expirable ON chat."user" (last_seen) WHERE name IS NULL AND NOT online;
