// The load benchmark (issue 8): three scenarios through the real stack, each beside baselines measured in the same run.
//   send         closed-loop send_message at N connections (SendScenario.cs), against raw PostgreSQL and raw gRPC
//   room         R rooms x U subscribed users at a fixed send rate (RoomScenario.cs), against a bare gRPC broadcast
//   connections  C idle Connect streams on the stack binary (ConnectionsScenario.cs), against idle streams on a bare gRPC server
//   rooms        R rooms x U members, each subscribed and sending on one Connect stream, open loop at rising total rates
//                (ManyRoomsScenario.cs, issue 15); against one INSERT + commit per message. Only when named: --scenarios rooms
//   noisy        a victim chatting beside each of seven hostile clients, on the stack binary at its default limits (NoisyScenario.cs);
//                against the victim alone in the same run. Only when named: --scenarios noisy
// Every acknowledged message is checked in PostgreSQL; any loss, repeat or failure makes the exit code 1. Missed targets only
// print NOT MET. Results: bench/results/load-STAMP.json, .md (the tables) and .png (the send scenario's chart).
// Usage: dotnet run -c Release --project bench/Chat.LoadBench [-- --quick] [--scenarios send,room,connections] (see BenchOptions.Usage)
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Chat.LoadBench;
using Chat.Development;
using Chat.Storage;
using Npgsql;

if (args is ["--serve-baseline", var servePort])
    return await BaselineHost.ServeAsync(int.Parse(servePort, CultureInfo.InvariantCulture));
// Redraws a chart from an earlier run's results (e.g. after a change to the chart) without measuring anything.
if (args is ["--chart-from", var chartJson, .. var chartRest])
{
    if (chartRest is not ([] or ["--chart-to", _]))
    {
        Console.Error.WriteLine("usage: Chat.LoadBench --chart-from bench/results/load-STAMP.json [--chart-to FILE.png]");
        return 2;
    }
    string? drawn;
    try
    {
        drawn = Report.ChartFrom(chartJson, chartRest is [_, var chartTo] ? chartTo : null);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidDataException)
    {
        Console.Error.WriteLine($"{chartJson} could not be read as a Chat.LoadBench results file: {e.Message}");
        return 2;
    }
    if (drawn is not null) Console.WriteLine(drawn);
    return drawn is null ? 1 : 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is FormatException or OverflowException)
{
    Console.Error.WriteLine($"{e.Message}\n{BenchOptions.Usage}");
    return 2;
}

// Every wait in the scenarios has its own timeout; this is the backstop for the whole run.
var bound = TimeSpan.FromMinutes(25);
using var cancel = new CancellationTokenSource(bound);
var stopped = false;
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // unwind through the finally blocks so that the throwaway server and the child processes are stopped
    Console.Error.WriteLine("Stopping...");
    stopped = true;
    cancel.Cancel();
}
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

var started = DateTime.UtcNow;
var clock = Stopwatch.StartNew();
var command = "dotnet run -c Release --project bench/Chat.LoadBench" + (args.Length == 0 ? "" : " -- " + string.Join(" ", args));
Console.WriteLine($"Chat.LoadBench: scenarios {string.Join(",", BenchOptions.KnownScenarios.Where(options.Runs))}{(options.Quick ? " (quick)" : "")}, " +
                  $"{Environment.ProcessorCount} cores, started {started:yyyy-MM-dd HH:mm:ss} UTC");

// A run killed before it could clean up leaves its PostgreSQL and child processes behind: stop them now.
ChildProcess.RemoveLeftovers();
var runFolder = Path.Combine(Path.GetTempPath(), $"chat-load-{Environment.ProcessId}-{Guid.NewGuid():N}");
Directory.CreateDirectory(runFolder);
// Not cancellable: a start abandoned half-way could leave a server running that nobody stops. With --gateway the stack
// and its PostgreSQL are already running and are only used.
var postgres = options.Gateway is null ? await LocalPostgresCluster.StartAsync(Path.Combine(runFolder, "postgres"), durable: true) : null;
var connectionString = postgres?.ConnectionString ?? options.Postgres!;
Bench? bench = null;
var report = new Report(started, command, "");
var durability = "";
try
{
    if (postgres is not null) await ChatSchema.MigrateAsync(connectionString, cancellationToken: cancel.Token);
    var pooled = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = Bench.PostgresPool }.ConnectionString;
    await using var db = NpgsqlDataSource.Create(pooled);
    durability = await BaselineTable.Durability(db);
    Console.WriteLine($"PostgreSQL {durability}");
    if (!durability.Contains("fsync=on") || !durability.Contains("synchronous_commit=on"))
        throw new InvalidOperationException($"the server does not commit durably: {durability}");
    report = new Report(started, command, durability);
    int? postmaster = postgres is not null
        && int.TryParse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).FirstOrDefault(), CultureInfo.InvariantCulture, out var pm)
        ? pm : null;
    bench = new Bench(options, runFolder, connectionString, postmaster, db, cancel.Token);

    if (options.Runs("send") || options.Runs("room") || options.Runs("rooms"))
    {
        // Silo + gateway in this process, as src/Silo runs them, and the bare gRPC server on another port.
        await bench.StartInProcessAsync("chat-load-bench");
        Console.WriteLine($"{(bench.External ? "running stack (--gateway)" : "silo + gateway")} at {bench.Stack.Address}, raw gRPC baseline at {bench.Baseline.Address} ({clock.Elapsed.TotalSeconds:0.0} s to start)");
        if (options.Runs("send"))
        {
            using var send = new SendScenario(bench);
            report.Send = new SendSection(options.SendSeconds, options.WarmupSeconds, Bench.PostgresPool, await send.RunAsync());
        }
        if (options.Runs("room"))
            report.Room = new RoomSection(options.RoomSeconds, await new RoomScenario(bench).RunAsync());
        if (options.Runs("rooms"))
            report.ManyRooms = await new ManyRoomsScenario(bench).RunAsync();
        await bench.StopInProcessAsync();
    }
    if (options.Runs("connections"))
        report.Connections = new ConnectionsSection(ConnectionsScenario.Parallelism, await new ConnectionsScenario(bench).RunAsync());
    if (options.Runs("noisy"))
        report.Noisy = await new NoisyScenario(bench).RunAsync();
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine(stopped ? "Cancelled: no results written." : $"FAILED: the run took longer than its bound of {bound.TotalMinutes:0} minutes; no results written.");
    return stopped ? 130 : 1;
}
catch (Exception e)
{
    Console.Error.WriteLine($"FAILED: {e}");
    return 1;
}
finally
{
    if (bench is not null) await bench.StopInProcessAsync();
    if (postgres is not null) await postgres.DestroyAsync();
    try { Directory.Delete(runFolder, recursive: true); }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.Error.WriteLine($"Could not delete {runFolder}: {e.Message}"); }
}

var problems = bench?.Problems ?? [];
var files = await report.WriteAsync(clock.Elapsed.TotalSeconds, problems);
Console.WriteLine($"\nResults: {string.Join(", ", files)} (total {clock.Elapsed.TotalSeconds:0} s)");
if (problems.Count > 0)
{
    foreach (var p in problems.Take(20)) Console.Error.WriteLine($"!! {p}");
    Console.Error.WriteLine($"FAILED: {problems.Count} problem(s): acknowledged messages missing, repeated or wrong, deliveries missing, repeated or out of order, " +
                            "or calls or connections failed.");
    return 1;
}
var verified = new List<string>();
if (options.Runs("send") || options.Runs("room") || options.Runs("rooms")) verified.Add("every acknowledged message is in chat.message exactly once (offsets 1..n, texts match)");
if (options.Runs("room") || options.Runs("rooms")) verified.Add("every subscriber received every message of its room exactly once, in offset order");
if (options.Runs("connections")) verified.Add("every connection opened, was online, went offline and ended cleanly");
if (verified.Count > 0) verified[^1] += "; every call succeeded";
// The attackers' calls are meant to be refused: what the victim went through is the scenario's verdict, not a failed run.
if (options.Runs("noisy")) verified.Add("every attack stopped by itself within its bound");
Console.WriteLine($"Verified: {string.Join("; ", verified)}.");
return 0;
