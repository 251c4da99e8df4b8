-- Chained group commits (issue 15): a message log keeps several groups in PostgreSQL at once, each in its own
-- transaction, and sends each group's COMMIT without waiting for the acknowledgement of the group before. PostgreSQL
-- then flushes their commits together. Offsets must stay gap-free: a group may commit only if the group before it did.
-- Each group holds a transaction-level advisory lock named after its database and last offset from its first round trip;
-- the next group, just before its COMMIT, waits for that lock (that is, for the group before to commit or roll back)
-- and then checks that the group's last row is there. If it is not, this raises, and the group rolls back.
CREATE OR REPLACE FUNCTION chat.follow_group(p_database bigint, p_previous_offset bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(chat.group_lock_database(p_database), chat.group_lock_offset(p_previous_offset));
    -- A new statement, so a new snapshot (READ COMMITTED): it sees the group before if that committed.
    IF NOT EXISTS (SELECT 1 FROM chat.message WHERE database_id = p_database AND "offset" = p_previous_offset) THEN
        RAISE EXCEPTION 'the group before (up to offset %) did not commit', p_previous_offset USING ERRCODE = 'CG001';
    END IF;
END $$;

-- The two halves of a group's lock key (the two-int4 key space is separate from the one-bigint space the schema
-- migration lock uses). Keys of one database differ until its offsets wrap 2^32; two databases share a key only if their
-- ids agree modulo 2^32, and then a group merely waits a little longer.
CREATE OR REPLACE FUNCTION chat.group_lock_database(p_database bigint) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT (p_database & 2147483647)::int $$;

CREATE OR REPLACE FUNCTION chat.group_lock_offset(p_offset bigint) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT ((p_offset & 4294967295) - 2147483648)::int $$;
