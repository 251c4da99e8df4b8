using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Issue 13: what strangers can put into an owner's module log, and how much of it.</summary>
public class ModuleLogTrustTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;

    private async Task<List<V1.LogRecord>> ReadLogs(string database, string token)
    {
        using var call = Gateway.Chat.Logs(new V1.LogsRequest { Database = database }, TestGateway.Bearer(token));
        var records = new List<V1.LogRecord>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) records.Add(call.ResponseStream.Current);
        return records;
    }

    private static bool Printable(string text) => !text.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029');

    [Fact]
    public async Task A_strangers_reducer_name_cannot_forge_lines_and_is_cut_in_the_status_and_the_log()
    {
        var (db, owner, _) = await fixture.NewDatabaseAsync("forged", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        var (_, stranger) = await Gateway.CreateIdentityAsync();
        var evil = "\u001b[2J\r\n2026-01-01T00:00:00.000000Z  INFO: fake" + new string('x', 30_000);

        var refused = await Assert.ThrowsAsync<RpcException>(() => Gateway.Chat.CallReducerAsync(
            new V1.CallReducerRequest { Database = db, Reducer = evil, ArgsJson = "[]" }, TestGateway.Bearer(stranger)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.StartsWith("No reducer '\\x1B[2J\\r\\n2026-01-01T00:00:00.000000Z  INFO: fake", refused.Status.Detail);
        Assert.True(refused.Status.Detail.Length <= LogText.MaxStatus, $"{refused.Status.Detail.Length} characters");
        Assert.True(Printable(refused.Status.Detail));

        // A message of several lines is one record, stored with its line break escaped.
        await Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "line one\nline two" }, TestGateway.Bearer(owner));

        List<V1.LogRecord> records = [];
        for (var polls = 0; polls < 1200 && !(records.Any(r => r.Reducer == "send_message") && records.Any(r => r.Level == V1.LogLevel.Error)); polls++)
        {
            if (polls > 0) await Task.Delay(100);
            records = await ReadLogs(db, owner);
        }
        var error = Assert.Single(records, r => r.Level == V1.LogLevel.Error);
        Assert.Equal(LogText.MaxReducerName, error.Reducer.EnumerateRunes().Count());
        Assert.StartsWith("\\x1B[2J\\r\\n", error.Reducer);
        Assert.True(Printable(error.Reducer) && Printable(error.Message), error.Message);
        Assert.True(error.Message.Length <= LogText.MaxLine);
        Assert.Contains(records, r => r.Reducer == "send_message" && r.Message == "line one\\nline two");
        Assert.All(records, r => Assert.True(Printable(r.Message), r.Message));
    }

    [Fact]
    public async Task Strangers_failed_calls_are_budgeted_and_summed_up_while_the_owners_are_all_kept()
    {
        var (db, owner, _) = await fixture.NewDatabaseAsync("flooded", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        var (_, stranger) = await Gateway.CreateIdentityAsync();
        const int strangerCalls = 130, ownerCalls = 5;
        for (var i = 0; i < strangerCalls; i++)
            await Assert.ThrowsAsync<RpcException>(() => Gateway.Chat.CallReducerAsync(
                new V1.CallReducerRequest { Database = db, Reducer = $"stranger-{i}", ArgsJson = "[]" }, TestGateway.Bearer(stranger)).ResponseAsync);
        for (var i = 0; i < ownerCalls; i++)
            await Assert.ThrowsAsync<RpcException>(() => Gateway.Chat.CallReducerAsync(
                new V1.CallReducerRequest { Database = db, Reducer = $"owner-{i}", ArgsJson = "[]" }, TestGateway.Bearer(owner)).ResponseAsync);

        // Every stranger's call is either a record or counted in a summary line; wait until all are accounted for.
        int written, summed;
        List<V1.LogRecord> records;
        var polls = 0;
        do
        {
            if (polls++ > 0) await Task.Delay(100); // polling for a condition, not a timing assumption
            records = await ReadLogs(db, owner);
            written = records.Count(r => r.Reducer.StartsWith("stranger-", StringComparison.Ordinal));
            summed = records.Where(r => r.Level == V1.LogLevel.Warn && r.Message.Contains("by identities other than the owner suppressed"))
                .Sum(r => int.Parse(r.Message.Split(' ')[0], CultureInfo.InvariantCulture));
        } while ((written + summed < strangerCalls || records.Count(r => r.Reducer.StartsWith("owner-", StringComparison.Ordinal)) < ownerCalls) && polls < 1200);

        Assert.Equal(strangerCalls, written + summed);
        Assert.InRange(written, 100, 110); // the burst, and what refilled at 10 a minute while the test ran
        Assert.True(summed >= 20);
        Assert.Equal(ownerCalls, records.Count(r => r.Reducer.StartsWith("owner-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_gateways_console_lines_about_failed_calls_escape_and_cut_the_callers_text()
    {
        var lines = new ConcurrentQueue<string>();
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client,
            logging: l => l.AddProvider(new CapturingLoggerProvider(lines)).AddFilter<CapturingLoggerProvider>("Chat.Frontend.ChatService", LogLevel.Information));
        var (_, stranger) = await gateway.CreateIdentityAsync();
        var evil = "\u001b[2J\r\n2026-01-01 info: Chat.Frontend.ChatService[0] fake" + new string('x', 30_000);
        await Assert.ThrowsAsync<RpcException>(() => gateway.Chat.CallReducerAsync(
            new V1.CallReducerRequest { Database = GatewayFixture.Database, Reducer = evil, ArgsJson = "[]" }, TestGateway.Bearer(stranger)).ResponseAsync);

        var line = Assert.Single(lines, l => l.StartsWith("Reducer \\x1B[2J", StringComparison.Ordinal));
        Assert.True(Printable(line), line);
        Assert.True(line.Length < 1500, $"{line.Length} characters");
    }

    /// <summary>Keeps each formatted log line, as a console would show it.</summary>
    private sealed class CapturingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(lines);
        public void Dispose() { }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }
}
