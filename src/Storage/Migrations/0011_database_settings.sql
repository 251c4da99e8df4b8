-- One home for a database's facts (issue 18): its settings join the catalog row that already holds its id, name, owner
-- and creation time, so a publish, clear, settings change or delete is one PostgreSQL transaction. Before this, the
-- settings (and a copy of the rest) lived in the database grain's Orleans state (OrleansStorage, serialized by Orleans'
-- binary serializer, which SQL cannot read). NULL marks a row published before this migration: its grain moves the
-- settings here from that state when it first activates, then clears the state (DatabaseGrain.OnActivateAsync).
ALTER TABLE chat.database ADD COLUMN IF NOT EXISTS settings jsonb;
