using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Chat.Development;

/// <summary>
/// A private PostgreSQL cluster in a folder of ours, started with Debian's server binaries on a
/// loopback port. The main command keeps one under the project's data folder (reused across runs,
/// so data survives); tests make throwaway ones. As root, initdb and the server run as the
/// <c>postgres</c> user, because PostgreSQL refuses to run as root.
/// Every connection, over TCP or the socket, needs a password generated with the cluster and kept in
/// <c>password</c> next to the data (mode 0600, owned by whoever runs us): without it any local account
/// could log in as the superuser and run shell commands as the server's user (<c>COPY ... TO PROGRAM</c>).
/// </summary>
public sealed class LocalPostgresCluster : IAsyncDisposable
{
    public const string DatabaseName = "chat";
    private const string RunAsUser = "postgres";

    private readonly string _root;
    private readonly string _binDirectory;
    private readonly ILogger _logger;
    private readonly bool _durable;

    public int Port { get; private set; }

    /// <summary>False when the server was already running: then it is someone else's to stop.</summary>
    public bool StartedHere { get; private set; }
    public string DataDirectory => Path.Combine(_root, "pgdata");

    /// <summary>The superuser's password, one line; readable by its owner only.</summary>
    public string PasswordFile => Path.Combine(_root, "password");

    private string? _password;

    public string ConnectionString => ConnectionStringFor(DatabaseName);

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = RunAsUser,
        Password = _password,
        Database = database,
        // Fail fast when the server is down: callers turn that into a clear "storage unavailable".
        Timeout = 5,
    }.ConnectionString;

    private LocalPostgresCluster(string root, string binDirectory, bool durable, ILogger logger)
    {
        _root = root;
        _binDirectory = binDirectory;
        _durable = durable;
        _logger = logger;
    }

    /// <summary>
    /// Creates the cluster under <paramref name="root"/> if it is not there yet, starts it (or finds it
    /// already running) and makes sure the <c>chat</c> database exists.
    /// </summary>
    /// <param name="durable">false only for throwaway test clusters: fsync off, which is still crash-safe for the OS but not for power loss.</param>
    public static async Task<LocalPostgresCluster> StartAsync(string root, bool durable = true, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        var bin = FindBinDirectory() ?? throw new InvalidOperationException(MissingBinariesMessage);
        root = Path.GetFullPath(root);
        var cluster = new LocalPostgresCluster(root, bin, durable, logger ?? NullLogger.Instance);
        await cluster.InitializeAsync(cancellationToken);
        await cluster.StartServerAsync(cancellationToken);
        await cluster.RequirePasswordAsync(cancellationToken);
        await cluster.EnsureDatabaseAsync(DatabaseName, cancellationToken);
        return cluster;
    }

    public const string MissingBinariesMessage =
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin or on PATH. " +
        "Install them with `sudo apt-get update && sudo apt-get install -y postgresql`, set CHAT_POSTGRES_BIN to their folder, " +
        "or point the service at an existing server with ConnectionStrings__Chat.";

    /// <summary>The connection string of a local cluster already running in <paramref name="root"/>, or null.</summary>
    public static string? FindRunning(string root)
    {
        var cluster = new LocalPostgresCluster(Path.GetFullPath(root), "", durable: true, NullLogger.Instance);
        if (cluster.ReadRunningPort() is not { } port) return null;
        cluster.Port = port;
        try
        {
            cluster._password = File.Exists(cluster.PasswordFile) ? File.ReadAllText(cluster.PasswordFile).Trim() : null;
        }
        catch (UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The local PostgreSQL in {root} runs, but its password file {cluster.PasswordFile} is not readable by " +
                                                $"user {Environment.UserName}: run as the user that started the stack, or set ConnectionStrings__Chat.");
        }
        return cluster.ConnectionString;
    }

    public static string? FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("CHAT_POSTGRES_BIN");
        if (!string.IsNullOrEmpty(configured))
            return File.Exists(Path.Combine(configured, "pg_ctl")) ? configured : null;
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            var newest = Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "pg_ctl")))
                .OrderByDescending(d => d.Version)
                .FirstOrDefault();
            if (newest.Dir is not null) return newest.Dir;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .FirstOrDefault(d => d.Length > 0 && File.Exists(Path.Combine(d, "pg_ctl")) && File.Exists(Path.Combine(d, "initdb")));
    }

    private static bool IsRoot => Environment.UserName == "root";

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_root);
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", RunAsUser + ":" + RunAsUser, _root], asPostgres: false, cancellationToken);
            // The server never reads the password file; only we (root) do.
            if (File.Exists(PasswordFile))
                await RunAsync("chown", ["root:root", PasswordFile], asPostgres: false, cancellationToken);
        }
        _password = LoadOrCreatePassword();
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
            return;
        _logger.CreatingCluster(DataDirectory);
        // initdb runs as the server's user, who cannot read our password file when we are root: it gets a copy of
        // its own for the moment initdb needs it.
        var passwordForInitdb = IsRoot ? Path.Combine(_root, "initdb-password") : PasswordFile;
        try
        {
            if (IsRoot)
            {
                File.Delete(passwordForInitdb); // left by an initdb that was interrupted
                WriteOwnerOnly(passwordForInitdb, _password);
                await RunAsync("chown", [RunAsUser + ":" + RunAsUser, passwordForInitdb], asPostgres: false, cancellationToken);
            }
            await RunAsync(Path.Combine(_binDirectory, "initdb"),
                ["-D", DataDirectory, "-U", RunAsUser, "--auth=scram-sha-256", "--pwfile=" + passwordForInitdb, "--encoding=UTF8", "--locale=C.UTF-8"],
                asPostgres: true, cancellationToken);
        }
        finally
        {
            if (IsRoot) File.Delete(passwordForInitdb);
        }
    }

    private string LoadOrCreatePassword()
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("The local PostgreSQL cluster needs Linux.");
        if (File.Exists(PasswordFile))
        {
            if ((File.GetUnixFileMode(PasswordFile) & ~OwnerOnly) != 0)
                File.SetUnixFileMode(PasswordFile, OwnerOnly);
            return File.ReadAllText(PasswordFile).Trim();
        }
        // Hex: no character that a connection string, a pgpass line or a shell would need to quote.
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        WriteOwnerOnly(PasswordFile, password);
        return password;
    }

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Created 0600 from the start, never readable by others in between.</summary>
    private static void WriteOwnerOnly(string file, string text)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("The local PostgreSQL cluster needs Linux.");
        using var writer = new StreamWriter(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly });
        writer.Write(text);
    }

    private string HbaFile => Path.Combine(DataDirectory, "pg_hba.conf");

    /// <summary>Rules that ask every connection for the password (SCRAM); replication included.</summary>
    private const string PasswordOnlyHba = """
        # Written by Chat on Orleans (LocalPostgresCluster): every connection needs the password in ../password.
        local   all             all                     scram-sha-256
        host    all             all     127.0.0.1/32    scram-sha-256
        host    all             all     ::1/128         scram-sha-256
        local   replication     all                     scram-sha-256
        host    replication     all     127.0.0.1/32    scram-sha-256
        host    replication     all     ::1/128         scram-sha-256

        """;

    /// <summary>Rule lines (not comments) that let a connection in without a password.</summary>
    private bool HbaTrustsAnyone() =>
        File.ReadLines(HbaFile)
            .Select(line => line.Split('#', 2)[0].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Any(fields => fields.Length > 0 && fields.Contains("trust"));

    /// <summary>
    /// Clusters made before passwords were required let every local user in (initdb --auth=trust): give the superuser
    /// the password of our file, then require it. Redone on the next start if interrupted, since it keys on the rules.
    /// </summary>
    private async Task RequirePasswordAsync(CancellationToken cancellationToken)
    {
        if (!HbaTrustsAnyone()) return;
        _logger.RequiringPassword(DataDirectory, PasswordFile);
        var trusted = new NpgsqlConnectionStringBuilder(ConnectionStringFor("postgres")) { Password = null, Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(trusted);
        await connection.OpenAsync(cancellationToken);
        // ALTER ROLE takes no parameters: the server quotes the password as a literal itself.
        await using (var format = new NpgsqlCommand("SELECT format('ALTER ROLE %I PASSWORD %L', current_user, @password)", connection))
        {
            format.Parameters.AddWithValue("password", _password!);
            var alter = (string)(await format.ExecuteScalarAsync(cancellationToken))!;
            await using var set = new NpgsqlCommand(alter, connection);
            await set.ExecuteNonQueryAsync(cancellationToken);
        }
        await using var loadedAt = new NpgsqlCommand("SELECT pg_conf_load_time()", connection);
        var before = (DateTime)(await loadedAt.ExecuteScalarAsync(cancellationToken))!;
        // Truncated in place, so it keeps its owner (the server's user) and mode.
        await File.WriteAllTextAsync(HbaFile, PasswordOnlyHba, cancellationToken);
        await using var reload = new NpgsqlCommand("SELECT pg_reload_conf()", connection);
        await reload.ExecuteScalarAsync(cancellationToken);
        await WaitForReloadAsync(before, cancellationToken);
    }

    /// <summary>
    /// pg_reload_conf only signals the server: new sessions get the new rules once it has read them, which a session
    /// started after that shows as a later pg_conf_load_time. Until then nobody may rely on the password being required.
    /// </summary>
    private async Task WaitForReloadAsync(DateTime before, CancellationToken cancellationToken)
    {
        var unpooled = new NpgsqlConnectionStringBuilder(ConnectionStringFor("postgres")) { Pooling = false }.ConnectionString;
        for (var attempt = 0; ; attempt++)
        {
            await using var connection = new NpgsqlConnection(unpooled);
            await connection.OpenAsync(cancellationToken);
            await using var loadedAt = new NpgsqlCommand("SELECT pg_conf_load_time()", connection);
            if ((DateTime)(await loadedAt.ExecuteScalarAsync(cancellationToken))! > before) return;
            if (attempt == 600)
                throw new InvalidOperationException($"The local PostgreSQL in {DataDirectory} did not reload pg_hba.conf within a minute (server log: {Path.Combine(_root, "postgres.log")}).");
            await Task.Delay(100, cancellationToken);
        }
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        if (ReadRunningPort() is { } running)
        {
            Port = running;
            _logger.UsingRunningServer(Port);
            return;
        }
        var portFile = Path.Combine(_root, "port");
        Port = File.Exists(portFile) && int.TryParse(File.ReadAllText(portFile), out var saved) && IsFree(saved) ? saved : FreePort();
        await StartOnPortAsync(cancellationToken);
        StartedHere = true;
        File.WriteAllText(portFile, Port.ToString(CultureInfo.InvariantCulture));
        _logger.StartedServer(Port, DataDirectory);
    }

    private Task StartOnPortAsync(CancellationToken cancellationToken)
    {
        var options = $"-p {Port} -c listen_addresses=127.0.0.1 -k {_root} -c max_connections=200";
        if (!_durable) options += " -c fsync=off -c full_page_writes=off";
        // setsid: the server gets a session of its own, so a Ctrl+C meant for us does not stop it under our feet
        // before the silo has flushed its last group commit; we stop it ourselves, last.
        return RunAsync("setsid",
            [Path.Combine(_binDirectory, "pg_ctl"), "-D", DataDirectory, "-l", Path.Combine(_root, "postgres.log"), "-w", "-t", "60", "-o", options, "start"],
            asPostgres: true, cancellationToken);
    }

    /// <summary>Stops the server; <paramref name="immediate"/> simulates a crash (no checkpoint), as the outage tests need.</summary>
    public Task StopAsync(bool immediate = false, CancellationToken cancellationToken = default) =>
        RunAsync(Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", DataDirectory, "-w", "-t", "60", "-m", immediate ? "immediate" : "fast", "stop"],
            asPostgres: true, cancellationToken);

    /// <summary>Starts a stopped server again on the same port.</summary>
    public Task RestartAsync(CancellationToken cancellationToken = default) => StartOnPortAsync(cancellationToken);

    public async Task EnsureDatabaseAsync(string database, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(ConnectionStringFor("postgres"));
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
        exists.Parameters.AddWithValue("name", database);
        if (await exists.ExecuteScalarAsync(cancellationToken) is not null)
            return;
        // CREATE DATABASE takes no parameters; the name is quoted as an identifier by the builder below.
        await using var create = new NpgsqlCommand($"CREATE DATABASE {QuoteIdentifier(database)}", connection);
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"") + "\"";

    private int? ReadRunningPort()
    {
        // postmaster.pid: line 1 the pid, line 4 the port. A stale file (server killed) is ignored.
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile)) return null;
        var lines = File.ReadAllLines(pidFile);
        if (lines.Length < 4 || !int.TryParse(lines[0], out var pid) || !int.TryParse(lines[3], out var port)) return null;
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited ? null : port;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static int FreePort() => LoopbackPorts.Free();

    private static bool IsFree(int port) => LoopbackPorts.IsFree(port);

    private async Task RunAsync(string program, string[] arguments, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (asPostgres && IsRoot)
        {
            start.FileName = "runuser";
            foreach (var a in new[] { "-u", RunAsUser, "--", program }) start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = program;
        }
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            var log = Path.Combine(_root, "postgres.log");
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: " +
                $"{(await stderr).Trim()} {(await stdout).Trim()} (server log: {log})");
        }
    }

    /// <summary>Stops the server if this instance started it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!StartedHere) return;
        try
        {
            await StopAsync();
        }
        catch (Exception e)
        {
            _logger.StopFailed(e);
        }
    }

    /// <summary>Stops the server and deletes its folder: for throwaway test clusters.</summary>
    public async Task DestroyAsync()
    {
        await StopAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
