-- Messages and module-log records are written in groups, and a foreign-key check per row was about 40% of
-- PostgreSQL's work for a group. Their writers now check once per statement that the database exists, locking its
-- catalog row FOR KEY SHARE as the foreign key did, and deleting a database deletes its messages and log records
-- itself, after its catalog row (see ChatStore.DeleteDatabaseAsync).
ALTER TABLE chat.message DROP CONSTRAINT IF EXISTS message_database_id_fkey;
ALTER TABLE chat.log DROP CONSTRAINT IF EXISTS log_database_id_fkey;
