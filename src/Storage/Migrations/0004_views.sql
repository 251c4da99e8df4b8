-- Read-only conveniences for people at a psql prompt: database names instead of ids, identities as
-- SpacetimeDB prints them. The tables stay the source of truth.
CREATE OR REPLACE VIEW chat.users AS
SELECT d.name AS database, '0x' || encode(u.identity, 'hex') AS identity, u.name, u.online
FROM chat."user" u JOIN chat.database d ON d.id = u.database_id;

CREATE OR REPLACE VIEW chat.messages AS
SELECT d.name AS database, m."offset", '0x' || encode(m.sender, 'hex') AS sender, m.sent, m.text
FROM chat.message m JOIN chat.database d ON d.id = m.database_id;
