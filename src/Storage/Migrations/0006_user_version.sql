-- Every write of a user row takes a new version from one sequence, so a reader that has seen a row
-- at version v can tell a later change from one it already has (subscriptions start from a snapshot).
CREATE SEQUENCE IF NOT EXISTS chat.user_version;
ALTER TABLE chat."user" ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
