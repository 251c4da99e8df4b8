-- =============================================================================================
-- 0001_orleans.sql: the schema the Orleans 10.4.2 ADO.NET providers expect on PostgreSQL
-- (ADO.NET invariant "Npgsql"):
--   * clustering / membership   (Microsoft.Orleans.Clustering.AdoNet)
--   * grain persistence         (Microsoft.Orleans.Persistence.AdoNet)
--   * reminders                 (Microsoft.Orleans.Reminders.AdoNet)
--
-- The NuGet packages ship no SQL; this script is our own. The providers read their SQL from the
-- OrleansQuery table (QueryKey -> QueryText) at start-up, bind parameters by name (@Name) and read
-- result columns by name, so every table, column, parameter and query key below must keep the
-- exact names the provider code uses. All objects live in the default "public" schema because
-- the providers use unqualified names.
--
-- Derived from the upstream dotnet/orleans scripts, read at commit
-- e558829b0b0f696e98c222438106e643fb53928f (main, 2026-08-22):
--   src/AdoNet/Shared/PostgreSQL-Main.sql                                   (OrleansQuery table)
--   src/AdoNet/Orleans.Clustering.AdoNet/PostgreSQL-Clustering.sql
--   src/AdoNet/Orleans.Clustering.AdoNet/Migrations/PostgreSQL-Clustering-3.6.0.sql / -3.7.0.sql
--   src/AdoNet/Orleans.Persistence.AdoNet/PostgreSQL-Persistence.sql
--   src/AdoNet/Orleans.Persistence.AdoNet/Migrations/PostgreSQL-Persistence-3.6.0.sql
--   src/AdoNet/Orleans.Reminders.AdoNet/PostgreSQL-Reminders.sql
--   src/AdoNet/Orleans.Reminders.AdoNet/Migrations/PostgreSQL-Reminders-3.6.0.sql
-- plus src/AdoNet/Orleans.Clustering.AdoNet/Migrations/PostgreSQL-Clustering-AtomicWrites.sql
-- (upstream commit 001102871c812e92ecb44c8192175cffea1b125b). Query keys and parameter names were
-- checked against the 10.4.2 assemblies themselves (package source commit 876ffe03, which the
-- snapshot above does not contain): DbStoredQueries / RelationalOrleansQueries / AdoNetGrainStorage.
--
-- Differences from the upstream base scripts:
--   * Added CleanupDefunctSiloEntriesKey. 10.4.2 REQUIRES it (DbStoredQueries refuses to start
--     without it), but the base PostgreSQL clustering script lacked it; upstream only shipped it
--     in Migrations/PostgreSQL-Clustering-3.7.0.sql until commit 80676edf (PR #9125).
--     Parameters: @DeploymentId, @IAmAliveTime (the cut-off, a UTC DateTime). Our version only
--     deletes Dead (6) rows, as AtomicWrites does; the 3.7.0 version deleted any non-Active row.
--   * Added the optional CleanupDefunctSiloEntryKey, which 10.4.2 prefers when present: the
--     provider reads all rows, picks Dead silos older than the cut-off without recent suspicion
--     votes, and deletes each one only if it is still exactly as read. Parameters: @DeploymentId,
--     @Address, @Port, @Generation, @StartTime, @IAmAliveTime, @SuspectTimes.
--   * Membership routines follow the AtomicWrites revision: RAISE ... USING ERRCODE
--     'assert_failure' instead of ASSERT (so a failed conditional write still rolls back when
--     plpgsql.check_asserts is off), the table version is bumped before the row is inserted, and
--     IAmAliveTime never moves backwards.
--   * Explicit argument types instead of %TYPE (no NOTICE chatter), OrleansStorage.ModifiedOn is
--     timestamptz (as in the 3.6.0 migration), and every statement is re-runnable.
--
-- Runs as ONE multi-statement command inside the migration runner's transaction: no
-- BEGIN/COMMIT and no psql meta-commands here.
-- =============================================================================================


-- ---------------------------------------------------------------------------------------------
-- Shared: the query catalogue every ADO.NET provider loads at start-up.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64)   NOT NULL,
    QueryText varchar(8000) NOT NULL,

    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);


-- =============================================================================================
-- Clustering (membership)
-- =============================================================================================

-- One row per cluster (DeploymentId = ClusterOptions.ClusterId); Version is the table's etag.
CREATE TABLE IF NOT EXISTS OrleansMembershipVersionTable
(
    DeploymentId varchar(150)   NOT NULL,
    Timestamp    timestamptz(3) NOT NULL DEFAULT now(),
    Version      integer        NOT NULL DEFAULT 0,

    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY (DeploymentId)
);

-- One row per silo incarnation (address, port, generation).
CREATE TABLE IF NOT EXISTS OrleansMembershipTable
(
    DeploymentId varchar(150)   NOT NULL,
    Address      varchar(45)    NOT NULL,
    Port         integer        NOT NULL,
    Generation   integer        NOT NULL,
    SiloName     varchar(150)   NOT NULL,
    HostName     varchar(150)   NOT NULL,
    Status       integer        NOT NULL,
    ProxyPort    integer        NULL,
    SuspectTimes varchar(8000)  NULL,
    StartTime    timestamptz(3) NOT NULL,
    IAmAliveTime timestamptz(3) NOT NULL,

    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY (DeploymentId, Address, Port, Generation),
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId
        FOREIGN KEY (DeploymentId) REFERENCES OrleansMembershipVersionTable (DeploymentId)
);

-- Heartbeat. Orleans never checks the outcome.
CREATE OR REPLACE FUNCTION update_i_am_alive_time(
    deployment_id   varchar,
    address_arg     varchar,
    port_arg        integer,
    generation_arg  integer,
    i_am_alive_time timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    UPDATE OrleansMembershipTable AS m
    SET    IAmAliveTime = GREATEST(m.IAmAliveTime, i_am_alive_time)
    WHERE  m.DeploymentId = deployment_id  AND deployment_id  IS NOT NULL
      AND  m.Address      = address_arg    AND address_arg    IS NOT NULL
      AND  m.Port         = port_arg       AND port_arg       IS NOT NULL
      AND  m.Generation   = generation_arg AND generation_arg IS NOT NULL;
END
$fn$;

-- Creates the cluster's version row. Returns 1 if it was created, 0 if it already existed.
CREATE OR REPLACE FUNCTION insert_membership_version(
    DeploymentIdArg varchar)
RETURNS TABLE (row_count integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    RowCountVar integer := 0;
BEGIN
    BEGIN
        INSERT INTO OrleansMembershipVersionTable (DeploymentId)
        SELECT DeploymentIdArg
        ON CONFLICT (DeploymentId) DO NOTHING;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar = 0 THEN
            RAISE EXCEPTION 'no rows affected, rollback' USING ERRCODE = 'assert_failure';
        END IF;

        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
        WHEN assert_failure THEN
            RETURN QUERY SELECT RowCountVar;
    END;
END
$fn$;

-- Conditional insert of a silo row: succeeds (returns 1) only if the table version still equals
-- VersionArg and the row does not exist yet; otherwise nothing changes and 0 is returned.
CREATE OR REPLACE FUNCTION insert_membership(
    DeploymentIdArg varchar,
    AddressArg      varchar,
    PortArg         integer,
    GenerationArg   integer,
    SiloNameArg     varchar,
    HostNameArg     varchar,
    StatusArg       integer,
    ProxyPortArg    integer,
    StartTimeArg    timestamptz,
    IAmAliveTimeArg timestamptz,
    VersionArg      integer)
RETURNS TABLE (row_count integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    RowCountVar integer := 0;
BEGIN
    BEGIN
        UPDATE OrleansMembershipVersionTable
        SET    Timestamp = now(),
               Version   = Version + 1
        WHERE  DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
          AND  Version      = VersionArg      AND VersionArg      IS NOT NULL
          AND  Version < 2147483647;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        INSERT INTO OrleansMembershipTable
        (
            DeploymentId, Address, Port, Generation, SiloName, HostName,
            Status, ProxyPort, StartTime, IAmAliveTime
        )
        SELECT DeploymentIdArg, AddressArg, PortArg, GenerationArg, SiloNameArg, HostNameArg,
               StatusArg, ProxyPortArg, StartTimeArg, IAmAliveTimeArg
        WHERE  RowCountVar > 0
        ON CONFLICT (DeploymentId, Address, Port, Generation) DO NOTHING;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar = 0 THEN
            -- undoes the version bump above
            RAISE EXCEPTION 'no rows affected, rollback' USING ERRCODE = 'assert_failure';
        END IF;

        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
        WHEN assert_failure THEN
            RETURN QUERY SELECT RowCountVar;
    END;
END
$fn$;

-- Conditional update of a silo row (status, suspicion votes, heartbeat), same contract as above.
CREATE OR REPLACE FUNCTION update_membership(
    DeploymentIdArg varchar,
    AddressArg      varchar,
    PortArg         integer,
    GenerationArg   integer,
    StatusArg       integer,
    SuspectTimesArg varchar,
    IAmAliveTimeArg timestamptz,
    VersionArg      integer)
RETURNS TABLE (row_count integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    RowCountVar integer := 0;
BEGIN
    BEGIN
        UPDATE OrleansMembershipVersionTable
        SET    Timestamp = now(),
               Version   = Version + 1
        WHERE  DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
          AND  Version      = VersionArg      AND VersionArg      IS NOT NULL
          AND  Version < 2147483647;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;

        UPDATE OrleansMembershipTable
        SET    Status       = StatusArg,
               SuspectTimes = SuspectTimesArg,
               IAmAliveTime = GREATEST(IAmAliveTime, IAmAliveTimeArg)
        WHERE  DeploymentId = DeploymentIdArg AND DeploymentIdArg IS NOT NULL
          AND  Address      = AddressArg      AND AddressArg      IS NOT NULL
          AND  Port         = PortArg         AND PortArg         IS NOT NULL
          AND  Generation   = GenerationArg   AND GenerationArg   IS NOT NULL
          AND  RowCountVar > 0;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar = 0 THEN
            -- undoes the version bump above
            RAISE EXCEPTION 'no rows affected, rollback' USING ERRCODE = 'assert_failure';
        END IF;

        RETURN QUERY SELECT RowCountVar;
    EXCEPTION
        WHEN assert_failure THEN
            RETURN QUERY SELECT RowCountVar;
    END;
END
$fn$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
(
    'UpdateIAmAlivetimeKey', $q$
    SELECT update_i_am_alive_time(@DeploymentId, @Address, @Port, @Generation, @IAmAliveTime);
$q$),
(
    'InsertMembershipVersionKey', $q$
    SELECT * FROM insert_membership_version(@DeploymentId);
$q$),
(
    'InsertMembershipKey', $q$
    SELECT * FROM insert_membership(
        @DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName,
        @Status, @ProxyPort, @StartTime, @IAmAliveTime, @Version);
$q$),
(
    'UpdateMembershipKey', $q$
    SELECT * FROM update_membership(
        @DeploymentId, @Address, @Port, @Generation,
        @Status, @SuspectTimes, @IAmAliveTime, @Version);
$q$),
(
    -- The LEFT JOIN returns the version row even when the silo row does not exist.
    'MembershipReadRowKey', $q$
    SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName,
           m.Status, m.ProxyPort, m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
    FROM   OrleansMembershipVersionTable v
           LEFT OUTER JOIN OrleansMembershipTable m
                ON  v.DeploymentId = m.DeploymentId
                AND m.Address    = @Address    AND @Address    IS NOT NULL
                AND m.Port       = @Port       AND @Port       IS NOT NULL
                AND m.Generation = @Generation AND @Generation IS NOT NULL
    WHERE  v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
$q$),
(
    'MembershipReadAllKey', $q$
    SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName,
           m.Status, m.ProxyPort, m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
    FROM   OrleansMembershipVersionTable v
           LEFT OUTER JOIN OrleansMembershipTable m ON v.DeploymentId = m.DeploymentId
    WHERE  v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
$q$),
(
    'DeleteMembershipTableEntriesKey', $q$
    DELETE FROM OrleansMembershipTable
    WHERE  DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
    DELETE FROM OrleansMembershipVersionTable
    WHERE  DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
$q$),
(
    -- @Status is SiloStatus.Active (3).
    'GatewaysQueryKey', $q$
    SELECT Address, ProxyPort, Generation
    FROM   OrleansMembershipTable
    WHERE  DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
      AND  Status       = @Status       AND @Status       IS NOT NULL
      AND  ProxyPort > 0;
$q$),
(
    -- Required key (missing from the base upstream script). Removes Dead (6) silos whose start,
    -- last heartbeat and suspicion votes are all older than the cut-off @IAmAliveTime.
    -- 10.4.2 only falls back to this when CleanupDefunctSiloEntryKey is absent.
    'CleanupDefunctSiloEntriesKey', $q$
    DELETE FROM OrleansMembershipTable
    WHERE  DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
      AND  IAmAliveTime < @IAmAliveTime
      AND  StartTime    < @IAmAliveTime
      AND  COALESCE(SuspectTimes, '') = ''
      AND  Status = 6;
$q$),
(
    -- Optional key, preferred by 10.4.2: delete one Dead row only if it is still exactly as the
    -- provider read it (compare-and-delete; the table version is left alone).
    'CleanupDefunctSiloEntryKey', $q$
    DELETE FROM OrleansMembershipTable
    WHERE  DeploymentId = @DeploymentId
      AND  Status       = 6
      AND  Address      = @Address
      AND  Port         = @Port
      AND  Generation   = @Generation
      AND  StartTime    = @StartTime
      AND  IAmAliveTime = @IAmAliveTime
      AND  COALESCE(SuspectTimes, '') = COALESCE(@SuspectTimes, '');
$q$)
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;


-- =============================================================================================
-- Grain persistence
-- =============================================================================================

-- One row per (service, grain type, grain id). Version is the state's etag; a cleared state keeps
-- its row with PayloadBinary NULL unless the storage is configured with DeleteStateOnClear.
CREATE TABLE IF NOT EXISTS OrleansStorage
(
    GrainIdHash            integer      NOT NULL,
    GrainIdN0              bigint       NOT NULL,
    GrainIdN1              bigint       NOT NULL,
    GrainTypeHash          integer      NOT NULL,
    GrainTypeString        varchar(512) NOT NULL,
    GrainIdExtensionString varchar(512) NULL,
    ServiceId              varchar(150) NOT NULL,
    PayloadBinary          bytea        NULL,
    ModifiedOn             timestamptz  NOT NULL,
    Version                integer      NULL
);

CREATE INDEX IF NOT EXISTS IX_OrleansStorage
    ON OrleansStorage USING btree (GrainIdHash, GrainTypeHash);

-- Insert (when _GrainStateVersion is NULL, i.e. never stored) or optimistic update (when it matches
-- the stored Version). Returns the new version; returning the unchanged input version tells the
-- provider the write lost a race (InconsistentStateException).
CREATE OR REPLACE FUNCTION WriteToStorage(
    _GrainIdHash            integer,
    _GrainIdN0              bigint,
    _GrainIdN1              bigint,
    _GrainTypeHash          integer,
    _GrainTypeString        varchar,
    _GrainIdExtensionString varchar,
    _ServiceId              varchar,
    _GrainStateVersion      integer,
    _PayloadBinary          bytea)
RETURNS TABLE (NewGrainStateVersion integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    _NewGrainStateVersion integer := _GrainStateVersion;
    RowCountVar           integer := 0;
BEGIN
    IF _GrainStateVersion IS NOT NULL THEN
        UPDATE OrleansStorage
        SET    PayloadBinary = _PayloadBinary,
               ModifiedOn    = now(),
               Version       = Version + 1
        WHERE  GrainIdHash     = _GrainIdHash     AND _GrainIdHash     IS NOT NULL
          AND  GrainTypeHash   = _GrainTypeHash   AND _GrainTypeHash   IS NOT NULL
          AND  GrainIdN0       = _GrainIdN0       AND _GrainIdN0       IS NOT NULL
          AND  GrainIdN1       = _GrainIdN1       AND _GrainIdN1       IS NOT NULL
          AND  GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
          AND  GrainIdExtensionString IS NOT DISTINCT FROM _GrainIdExtensionString
          AND  ServiceId       = _ServiceId       AND _ServiceId       IS NOT NULL
          AND  Version IS NOT NULL AND Version = _GrainStateVersion;

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0 THEN
            _NewGrainStateVersion := _GrainStateVersion + 1;
        END IF;
    ELSE
        INSERT INTO OrleansStorage
        (
            GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
            GrainIdExtensionString, ServiceId, PayloadBinary, ModifiedOn, Version
        )
        SELECT _GrainIdHash, _GrainIdN0, _GrainIdN1, _GrainTypeHash, _GrainTypeString,
               _GrainIdExtensionString, _ServiceId, _PayloadBinary, now(), 1
        WHERE NOT EXISTS
        (
            SELECT 1
            FROM   OrleansStorage
            WHERE  GrainIdHash     = _GrainIdHash     AND _GrainIdHash     IS NOT NULL
              AND  GrainTypeHash   = _GrainTypeHash   AND _GrainTypeHash   IS NOT NULL
              AND  GrainIdN0       = _GrainIdN0       AND _GrainIdN0       IS NOT NULL
              AND  GrainIdN1       = _GrainIdN1       AND _GrainIdN1       IS NOT NULL
              AND  GrainTypeString = _GrainTypeString AND _GrainTypeString IS NOT NULL
              AND  GrainIdExtensionString IS NOT DISTINCT FROM _GrainIdExtensionString
              AND  ServiceId       = _ServiceId       AND _ServiceId       IS NOT NULL
        );

        GET DIAGNOSTICS RowCountVar = ROW_COUNT;
        IF RowCountVar > 0 THEN
            _NewGrainStateVersion := 1;
        END IF;
    END IF;

    RETURN QUERY SELECT _NewGrainStateVersion;
END
$fn$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
(
    'WriteToStorageKey', $q$
    SELECT * FROM WriteToStorage(
        @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
        @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary);
$q$),
(
    -- The provider reads PayloadBinary and Version by name.
    'ReadFromStorageKey', $q$
    SELECT PayloadBinary, ModifiedOn, Version
    FROM   OrleansStorage
    WHERE  GrainIdHash     = @GrainIdHash     AND @GrainIdHash     IS NOT NULL
      AND  GrainTypeHash   = @GrainTypeHash   AND @GrainTypeHash   IS NOT NULL
      AND  GrainIdN0       = @GrainIdN0       AND @GrainIdN0       IS NOT NULL
      AND  GrainIdN1       = @GrainIdN1       AND @GrainIdN1       IS NOT NULL
      AND  GrainTypeString = @GrainTypeString AND @GrainTypeString IS NOT NULL
      AND  ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString)
            OR (@GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL))
      AND  ServiceId       = @ServiceId       AND @ServiceId       IS NOT NULL;
$q$),
(
    -- ClearStateAsync with DeleteStateOnClear = false: keep the row, drop the payload, bump Version.
    'ClearStorageKey', $q$
    UPDATE OrleansStorage
    SET    PayloadBinary = NULL,
           ModifiedOn    = now(),
           Version       = Version + 1
    WHERE  GrainIdHash     = @GrainIdHash     AND @GrainIdHash     IS NOT NULL
      AND  GrainTypeHash   = @GrainTypeHash   AND @GrainTypeHash   IS NOT NULL
      AND  GrainIdN0       = @GrainIdN0       AND @GrainIdN0       IS NOT NULL
      AND  GrainIdN1       = @GrainIdN1       AND @GrainIdN1       IS NOT NULL
      AND  GrainTypeString = @GrainTypeString AND @GrainTypeString IS NOT NULL
      AND  ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString)
            OR (@GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL))
      AND  ServiceId       = @ServiceId       AND @ServiceId       IS NOT NULL
      AND  Version IS NOT NULL AND Version = @GrainStateVersion AND @GrainStateVersion IS NOT NULL
    RETURNING Version AS NewGrainStateVersion;
$q$),
(
    -- ClearStateAsync with DeleteStateOnClear = true: remove the row.
    'DeleteStorageKey', $q$
    DELETE FROM OrleansStorage
    WHERE  GrainIdHash     = @GrainIdHash     AND @GrainIdHash     IS NOT NULL
      AND  GrainTypeHash   = @GrainTypeHash   AND @GrainTypeHash   IS NOT NULL
      AND  GrainIdN0       = @GrainIdN0       AND @GrainIdN0       IS NOT NULL
      AND  GrainIdN1       = @GrainIdN1       AND @GrainIdN1       IS NOT NULL
      AND  GrainTypeString = @GrainTypeString AND @GrainTypeString IS NOT NULL
      AND  ((@GrainIdExtensionString IS NOT NULL AND GrainIdExtensionString = @GrainIdExtensionString)
            OR (@GrainIdExtensionString IS NULL AND GrainIdExtensionString IS NULL))
      AND  ServiceId       = @ServiceId       AND @ServiceId       IS NOT NULL
      AND  Version IS NOT NULL AND Version = @GrainStateVersion AND @GrainStateVersion IS NOT NULL
    RETURNING Version + 1 AS NewGrainStateVersion;
$q$)
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;


-- =============================================================================================
-- Reminders
-- =============================================================================================

-- Period is in milliseconds; GrainHash is the grain's uniform hash (as a signed int) for range scans.
CREATE TABLE IF NOT EXISTS OrleansRemindersTable
(
    ServiceId    varchar(150)   NOT NULL,
    GrainId      varchar(150)   NOT NULL,
    ReminderName varchar(150)   NOT NULL,
    StartTime    timestamptz(3) NOT NULL,
    Period       bigint         NOT NULL,
    GrainHash    integer        NOT NULL,
    Version      integer        NOT NULL,

    CONSTRAINT PK_RemindersTable_ServiceId_GrainId_ReminderName PRIMARY KEY (ServiceId, GrainId, ReminderName)
);

-- Insert or overwrite a reminder; returns its new Version (the reminder's etag).
CREATE OR REPLACE FUNCTION upsert_reminder_row(
    ServiceIdArg    varchar,
    GrainIdArg      varchar,
    ReminderNameArg varchar,
    StartTimeArg    timestamptz,
    PeriodArg       bigint,
    GrainHashArg    integer)
RETURNS TABLE (version integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    VersionVar integer := 0;
BEGIN
    INSERT INTO OrleansRemindersTable AS r
    (
        ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version
    )
    SELECT ServiceIdArg, GrainIdArg, ReminderNameArg, StartTimeArg, PeriodArg, GrainHashArg, 0
    ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
        SET StartTime = EXCLUDED.StartTime,
            Period    = EXCLUDED.Period,
            GrainHash = EXCLUDED.GrainHash,
            Version   = r.Version + 1
    RETURNING r.Version INTO STRICT VersionVar;

    RETURN QUERY SELECT VersionVar;
END
$fn$;

-- Delete a reminder if its Version still matches; returns the number of rows deleted (0 or 1).
CREATE OR REPLACE FUNCTION delete_reminder_row(
    ServiceIdArg    varchar,
    GrainIdArg      varchar,
    ReminderNameArg varchar,
    VersionArg      integer)
RETURNS TABLE (row_count integer)
LANGUAGE plpgsql
AS $fn$
DECLARE
    RowCountVar integer := 0;
BEGIN
    DELETE FROM OrleansRemindersTable
    WHERE  ServiceId    = ServiceIdArg    AND ServiceIdArg    IS NOT NULL
      AND  GrainId      = GrainIdArg      AND GrainIdArg      IS NOT NULL
      AND  ReminderName = ReminderNameArg AND ReminderNameArg IS NOT NULL
      AND  Version      = VersionArg      AND VersionArg      IS NOT NULL;

    GET DIAGNOSTICS RowCountVar = ROW_COUNT;

    RETURN QUERY SELECT RowCountVar;
END
$fn$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
(
    'UpsertReminderRowKey', $q$
    SELECT * FROM upsert_reminder_row(
        @ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash);
$q$),
(
    'ReadReminderRowsKey', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM   OrleansRemindersTable
    WHERE  ServiceId = @ServiceId AND @ServiceId IS NOT NULL
      AND  GrainId   = @GrainId   AND @GrainId   IS NOT NULL;
$q$),
(
    'ReadReminderRowKey', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM   OrleansRemindersTable
    WHERE  ServiceId    = @ServiceId    AND @ServiceId    IS NOT NULL
      AND  GrainId      = @GrainId      AND @GrainId      IS NOT NULL
      AND  ReminderName = @ReminderName AND @ReminderName IS NOT NULL;
$q$),
(
    -- Hash range that does not wrap around (BeginHash < EndHash).
    'ReadRangeRows1Key', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM   OrleansRemindersTable
    WHERE  ServiceId = @ServiceId AND @ServiceId IS NOT NULL
      AND  GrainHash > @BeginHash AND @BeginHash IS NOT NULL
      AND  GrainHash <= @EndHash  AND @EndHash   IS NOT NULL;
$q$),
(
    -- Hash range that wraps around (BeginHash >= EndHash).
    'ReadRangeRows2Key', $q$
    SELECT GrainId, ReminderName, StartTime, Period, Version
    FROM   OrleansRemindersTable
    WHERE  ServiceId = @ServiceId AND @ServiceId IS NOT NULL
      AND  ((GrainHash > @BeginHash AND @BeginHash IS NOT NULL)
            OR (GrainHash <= @EndHash AND @EndHash IS NOT NULL));
$q$),
(
    'DeleteReminderRowKey', $q$
    SELECT * FROM delete_reminder_row(@ServiceId, @GrainId, @ReminderName, @Version);
$q$),
(
    'DeleteReminderRowsKey', $q$
    DELETE FROM OrleansRemindersTable
    WHERE  ServiceId = @ServiceId AND @ServiceId IS NOT NULL;
$q$)
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
