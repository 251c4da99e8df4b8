using System.Globalization;
using Chat.Development;
using Chat.Storage;
using Npgsql;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// Throwaway PostgreSQL clusters for the tests: real servers on free loopback ports, in temporary
/// folders that are deleted when the test process exits. One shared server serves most tests, each
/// test class in a database of its own; tests that take the server down get a private one.
/// </summary>
public static class TestPostgres
{
    private static readonly Lazy<Task<LocalPostgresCluster>> SharedServer = new(() => CreateServerAsync());
    private static readonly List<LocalPostgresCluster> Created = [];
    private static int _databases;

    static TestPostgres()
    {
        RemoveLeftovers();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            lock (Created)
                foreach (var server in Created)
                    server.DestroyAsync().GetAwaiter().GetResult();
        };
    }

    public static Task<LocalPostgresCluster> Shared => SharedServer.Value;

    /// <summary>
    /// Servers of earlier test runs whose process is gone (killed before it could clean up): stop them and
    /// delete their folders, so that runs do not pile up PostgreSQL servers.
    /// </summary>
    private static void RemoveLeftovers()
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), "chat-tests-*"))
        {
            var parts = Path.GetFileName(folder).Split('-');
            if (parts.Length < 3 || !int.TryParse(parts[2], out var owner) || IsAlive(owner)) continue;
            var pidFile = Path.Combine(folder, "pgdata", "postmaster.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var postmaster) && IsAlive(postmaster))
            {
                try { System.Diagnostics.Process.GetProcessById(postmaster).Kill(); } catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
            }
            try { Directory.Delete(folder, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>A new server of its own (for tests that stop it). Destroyed at process exit if the test does not.</summary>
    public static async Task<LocalPostgresCluster> CreateServerAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chat-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var server = await LocalPostgresCluster.StartAsync(folder, durable: false);
        lock (Created) Created.Add(server);
        return server;
    }

    /// <summary>A fresh, migrated database on <paramref name="server"/> (the shared one by default); returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(LocalPostgresCluster? server = null)
    {
        server ??= await Shared;
        var name = $"chat_test_{Interlocked.Increment(ref _databases)}";
        await server.EnsureDatabaseAsync(name);
        var connectionString = server.ConnectionStringFor(name);
        await ChatSchema.MigrateAsync(connectionString);
        return connectionString;
    }

    /// <summary>The tests' own reads bypass the pool, so a connection broken by a server restart is never reused.</summary>
    private static string Unpooled(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        var result = await command.ExecuteScalarAsync();
        return (T)Convert.ChangeType(result!, typeof(T), CultureInfo.InvariantCulture);
    }

    public static async Task<List<object?[]>> RowsAsync(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }
}
