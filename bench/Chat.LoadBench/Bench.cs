using Chat.Frontend.Delivery;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>What every scenario shares: the options, the throwaway PostgreSQL, the in-process stack and baseline, the problems found.</summary>
public sealed class Bench(BenchOptions options, string runFolder, string connectionString, int? postmaster, NpgsqlDataSource db, CancellationToken cancel)
{
    /// <summary>max_connections=200 on the throwaway cluster; the silo needs some of the rest.</summary>
    public const int PostgresPool = 100;

    public BenchOptions Options { get; } = options;

    /// <summary>This run's folder under the temp directory (PostgreSQL, the child stack's data); deleted at the end.</summary>
    public string RunFolder { get; } = runFolder;

    public string ConnectionString { get; } = connectionString;

    /// <summary>The throwaway PostgreSQL's postmaster, whose CPU the room scenario reports apart.</summary>
    public int? Postmaster { get; } = postmaster;

    public NpgsqlDataSource Db { get; } = db;
    public CancellationToken Cancel { get; } = cancel;

    /// <summary>Every verification failure, prefixed with where it happened; any makes the exit code 1.</summary>
    public List<string> Problems { get; } = [];

    /// <summary>The silo + gateway in this process, or the running one given by --gateway (send and room scenarios).</summary>
    public StackHost Stack => _stack ?? throw new InvalidOperationException("the in-process stack is not running");

    /// <summary>The bare gRPC server in this process (send and room scenarios).</summary>
    public BaselineHost Baseline => _baseline ?? throw new InvalidOperationException("the in-process baseline is not running");

    /// <summary>Bearer metadata of the identity that publishes (and so owns) every database.</summary>
    public Metadata Owner => _owner ?? throw new InvalidOperationException("no owner identity yet");

    private StackHost? _stack;
    private BaselineHost? _baseline;
    private Metadata? _owner;

    /// <summary>True when the stack under test runs elsewhere (<c>--gateway</c>, <c>--stack-process</c>): its grains' meter cannot be read from here.</summary>
    public bool External => Options.Gateway is not null || Options.StackProcess;

    /// <summary>The stack's own process (<c>--stack-process</c>), whose CPU is then reported apart from the clients'; null when it runs in this one.</summary>
    public int? StackPid => _stackProcess?.Child.Pid;

    /// <summary>PostgreSQL's own pgbench, the raw-PostgreSQL baseline's client; null when not installed.</summary>
    public string? PgBench { get; } = LoadBench.PgBench.Find();

    private ServerProcess? _stackProcess;

    /// <summary>Database names get this run's tag, so runs against the same running stack do not collide.</summary>
    public string Name(string name) => $"{name}-{_tag}";

    private readonly string _tag = Guid.NewGuid().ToString("N")[..6];

    public async Task StartInProcessAsync(string clusterId)
    {
        if (Options.StackProcess)
        {
            // The stack binary with the limits StackHost sets in-process: the benchmark measures speed, not eviction.
            var settings = new Dictionary<string, string>(global::Chat.Frontend.Delivery.GatewayOptions.AsEnvironment(global::Chat.Frontend.Delivery.GatewayOptions.AddressLimitsLifted))
            {
                ["Chat__Gateway__SendQueueCapacity"] = "100000",
                ["Chat__Gateway__MaxConnectionsPerIdentity"] = "100000",
                ["Chat__Gateway__MaxConnections"] = "100000",
            };
            _stackProcess = await ServerProcess.StartStackAsync(this, await ServerProcess.StackBinaryAsync(this), clusterId, settings);
            _stack = StackHost.Running(_stackProcess.Address);
        }
        else _stack = Options.Gateway is { } gateway ? StackHost.Running(gateway) : await StackHost.StartAsync(ConnectionString, clusterId, Cancel);
        _baseline = await BaselineHost.StartAsync(0, Cancel);
        var identity = await _stack.Chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: Cancel);
        _owner = new Metadata { { "authorization", "Bearer " + identity.Token } };
    }

    public async Task StopInProcessAsync()
    {
        if (_baseline is not null) await _baseline.DisposeAsync();
        if (_stack is not null) await _stack.DisposeAsync();
        if (_stackProcess is not null)
        {
            await _stackProcess.StopAsync();
            await _stackProcess.DisposeAsync();
        }
        (_baseline, _stack, _owner, _stackProcess) = (null, null, null, null);
    }

    /// <summary>A fresh database on the in-process stack, rate limit off.</summary>
    public Task Publish(string database) => Publish(Stack.Databases, Owner, database, Cancel);

    public static async Task Publish(V1.Databases.DatabasesClient databases, Metadata owner, string database, CancellationToken cancel) =>
        await databases.PublishAsync(new V1.PublishRequest { Database = database, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } },
            owner, cancellationToken: cancel);

    /// <summary>One channel (one HTTP/2 connection) per 100 streams: Kestrel allows 100 streams per connection.</summary>
    public static GrpcChannel[] Channels(string address, int streams) =>
        Enumerable.Range(0, (streams + StackHost.StreamsPerChannel - 1) / StackHost.StreamsPerChannel)
            .Select(_ => GrpcChannel.ForAddress(address)).ToArray();
}
