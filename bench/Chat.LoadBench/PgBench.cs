using System.Diagnostics;
using System.Globalization;
using Chat.Development;
using Npgsql;

namespace Chat.LoadBench;

/// <summary>One pgbench run: what it committed, how long, every transaction's latency, and the CPU of each process meanwhile.</summary>
/// <param name="ConnectMs">pgbench's "initial connection time": with -R its schedule already runs while the clients connect.</param>
public sealed record PgBenchRun(Measured Measured, int Clients, int Threads, long Reported, double ConnectMs, CpuUse Cpu);

/// <summary>
/// The raw-PostgreSQL baseline as a good client writes it: PostgreSQL's own <c>pgbench</c>, run as a process of its own on the
/// stack's server, one INSERT and one commit per message into <see cref="BaselineTable"/> (chat.message's shape, checks and
/// indexes), prepared statements (<c>-M prepared</c>), N clients on min(N, cores) threads, no vacuum (<c>-n</c>). Latency
/// percentiles come from its per-transaction log (<c>-l</c>, µs), written to a folder of this run; with <c>-R</c> pgbench
/// counts each transaction from when it was scheduled, so its latency includes any queueing, as the stack's open loop does.
/// </summary>
public static class PgBench
{
    /// <summary>
    /// Each client numbers its own messages (pgbench variables live as long as the client), so every text is unique and the rows
    /// can be counted against the transactions; the sender is 32 bytes derived from the client id, like an identity.
    /// </summary>
    private const string Script = """
        \set n :n + 1
        INSERT INTO bench_baseline_message (database_id, sender, sent, text) VALUES (:database_id, decode(lpad(to_hex(:client_id::int), 64, '0'), 'hex'), now(), 'pgbench c' || :client_id::text || ' #' || :n::text || ': hello from the load bench, how is everyone?');
        """;

    private static double _connectMsPerClient = double.NaN;

    /// <summary>The pgbench of the PostgreSQL the project runs (CHAT_POSTGRES_BIN, /usr/lib/postgresql/*/bin, PATH), or null.</summary>
    public static string? Find()
    {
        foreach (var dir in new[] { LocalPostgresCluster.FindBinDirectory() }
                     .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')))
            if (!string.IsNullOrEmpty(dir) && File.Exists(Path.Combine(dir, "pgbench")))
                return Path.Combine(dir, "pgbench");
        return null;
    }

    /// <summary>
    /// How many clients the server has room for beside what is connected now (the silo's pool, the bench's own), keeping a few
    /// free for the checks that follow; never more than <paramref name="wanted"/>.
    /// </summary>
    public static async Task<int> Room(NpgsqlDataSource db, int wanted)
    {
        await using var command = db.CreateCommand(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int");
        var free = (int)(await command.ExecuteScalarAsync())!;
        return Math.Max(1, Math.Min(wanted, free - 10));
    }

    /// <summary>
    /// pgbench for <paramref name="seconds"/> (whole seconds: rounded up) with <paramref name="clients"/> connections, closed loop,
    /// or open loop at <paramref name="rate"/> transactions/s in all when given. Throws when pgbench fails to run; failed
    /// transactions are counted in the result.
    /// </summary>
    public static async Task<PgBenchRun> RunAsync(string pgbench, string connectionString, long databaseId, int clients, double seconds, double? rate,
        string folder, int? postmaster, int? stackPid, CancellationToken cancel)
    {
        var c = new NpgsqlConnectionStringBuilder(connectionString);
        if (c.Host is not ("127.0.0.1" or "localhost" or "::1")) throw new InvalidOperationException($"pgbench: host '{c.Host}' is not loopback");
        var dir = Directory.CreateDirectory(Path.Combine(folder, $"pgbench-{Guid.NewGuid():N}")).FullName;
        try
        {
            var script = Path.Combine(dir, "insert.sql");
            await File.WriteAllTextAsync(script, Script, cancel);
            var threads = Math.Min(clients, Environment.ProcessorCount);
            // pgbench's -T clock runs while its clients log in (password authentication: seconds for 50 clients on a loaded machine),
            // and the schedule and the window start after. Lengthened by the last run's connection time per client, the window
            // that is measured comes near the stack's.
            var connecting = double.IsNaN(_connectMsPerClient) ? 0 : _connectMsPerClient * clients / threads / 1000;
            var duration = Math.Max((int)Math.Ceiling(seconds), (int)Math.Round(seconds + connecting));
            var arguments = new List<string>
            {
                "-h", c.Host!, "-p", c.Port.ToString(CultureInfo.InvariantCulture), "-U", c.Username ?? Environment.UserName,
                "-n", "-M", "prepared", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", threads.ToString(CultureInfo.InvariantCulture),
                "-T", duration.ToString(CultureInfo.InvariantCulture), "-l", "--log-prefix", Path.Combine(dir, "tx"),
                "-D", $"database_id={databaseId.ToString(CultureInfo.InvariantCulture)}", "-D", "n=0", "-f", script,
            };
            if (rate is { } r) arguments.AddRange(["-R", r.ToString("0.###", CultureInfo.InvariantCulture)]);
            arguments.Add(c.Database ?? "postgres");
            var start = new ProcessStartInfo(pgbench, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = dir,
            };
            start.Environment["PGPASSWORD"] = c.Password ?? "";
            start.Environment["PGSSLMODE"] = "disable"; // loopback: the stack's own connections do not use TLS either

            var cpu = new CpuSampler(postmaster, stackPid);
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {pgbench}");
            var output = process.StandardOutput.ReadToEndAsync(cancel);
            var errors = process.StandardError.ReadToEndAsync(cancel);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(duration + 60));
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var used = cpu.Stop();
            var (stdout, stderr) = (await output, await errors);
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"pgbench exited with {process.ExitCode}:\n{string.Join("\n", (stdout + stderr).Split('\n').TakeLast(15))}");
            var reported = Number(stdout, "number of transactions actually processed:");
            var failedReported = Number(stdout, "number of failed transactions:");
            var connectLine = stdout.Split('\n').FirstOrDefault(l => l.StartsWith("initial connection time =", StringComparison.Ordinal));
            var connectMs = connectLine is not null && double.TryParse(connectLine.Split('=')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture, out var ms) ? ms : double.NaN;
            if (!double.IsNaN(connectMs)) _connectMsPerClient = connectMs * threads / clients;
            return new PgBenchRun(FromLog(dir, failedReported), clients, threads, reported, connectMs, used);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>
    /// Every line of the per-transaction logs (one per thread): <c>client_id transaction_no time script_no time_epoch time_us
    /// [schedule_lag]</c>, time in µs or a word for a failed transaction. The window runs from the first transaction's start (its
    /// end less its latency) to the last one's end, as the stack's does.
    /// </summary>
    private static Measured FromLog(string dir, long failedReported)
    {
        var latencies = new List<long>();
        long failed = 0, first = long.MaxValue, last = long.MinValue;
        foreach (var file in Directory.EnumerateFiles(dir, "tx.*"))
            foreach (var line in File.ReadLines(file))
            {
                var f = line.Split(' ');
                if (f.Length < 6) continue;
                if (!long.TryParse(f[2], CultureInfo.InvariantCulture, out var us))
                {
                    failed++;
                    continue;
                }
                var end = long.Parse(f[4], CultureInfo.InvariantCulture) * 1_000_000 + long.Parse(f[5], CultureInfo.InvariantCulture);
                (first, last) = (Math.Min(first, end - us), Math.Max(last, end));
                latencies.Add(us * Stopwatch.Frequency / 1_000_000);
            }
        var sorted = latencies.ToArray();
        Array.Sort(sorted);
        var seconds = sorted.Length == 0 ? double.NaN : Math.Max(1, last - first) / 1e6;
        var failures = Math.Max(failed, failedReported);
        return Measured.From(new Run(sorted.Length, failures, failures == 0 ? null : $"{failures} pgbench transactions failed", seconds, sorted));
    }

    private static long Number(string output, string label)
    {
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith(label, StringComparison.Ordinal));
        if (line is null) return 0;
        var text = line[label.Length..].Trim().Split(' ', '/')[0];
        return long.TryParse(text, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }
}
