using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Chat.Storage;

/// <summary>
/// A private PostgreSQL cluster in a folder of ours, started with Debian's server binaries on a
/// loopback port. The main command keeps one under the project's data folder (reused across runs,
/// so data survives); tests make throwaway ones. As root, initdb and the server run as the
/// <c>postgres</c> user, because PostgreSQL refuses to run as root.
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
    public string ConnectionString => ConnectionStringFor(DatabaseName);

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = RunAsUser,
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
            await RunAsync("chown", ["-R", RunAsUser + ":" + RunAsUser, _root], asPostgres: false, cancellationToken);
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
            return;
        _logger.LogInformation("Creating a local PostgreSQL cluster in {DataDirectory}", DataDirectory);
        await RunAsync(Path.Combine(_binDirectory, "initdb"),
            ["-D", DataDirectory, "-U", RunAsUser, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
            asPostgres: true, cancellationToken);
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        if (ReadRunningPort() is { } running)
        {
            Port = running;
            _logger.LogInformation("Using the local PostgreSQL already running on 127.0.0.1:{Port}", Port);
            return;
        }
        var portFile = Path.Combine(_root, "port");
        Port = File.Exists(portFile) && int.TryParse(File.ReadAllText(portFile), out var saved) && IsFree(saved) ? saved : FreePort();
        await StartOnPortAsync(cancellationToken);
        StartedHere = true;
        File.WriteAllText(portFile, Port.ToString());
        _logger.LogInformation("Started local PostgreSQL on 127.0.0.1:{Port} (data in {DataDirectory})", Port, DataDirectory);
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
            _logger.LogWarning(e, "Stopping the local PostgreSQL cluster failed");
        }
    }

    /// <summary>Stops the server and deletes its folder: for throwaway test clusters.</summary>
    public async Task DestroyAsync()
    {
        await StopAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
