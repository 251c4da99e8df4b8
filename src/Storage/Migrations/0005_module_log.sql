-- Each database's module log (what `spacetime logs` shows): send_message's text at info level,
-- warnings and failed reducer calls. Bounded per database by pruning the oldest records.
CREATE TABLE IF NOT EXISTS chat.log (
    database_id bigint      NOT NULL REFERENCES chat.database (id) ON DELETE CASCADE,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL,
    level       smallint    NOT NULL,  -- 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 panic
    reducer     text,
    message     text        NOT NULL,
    PRIMARY KEY (database_id, id)
);

CREATE OR REPLACE VIEW chat.logs AS
SELECT d.name AS database, l.id, l.at,
       (ARRAY['trace','debug','info','warn','error','panic'])[l.level + 1] AS level, l.reducer, l.message
FROM chat.log l JOIN chat.database d ON d.id = l.database_id;
