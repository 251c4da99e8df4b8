using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Chat.Frontend.Delivery;
using Chat.Development;
using Chat.Storage;

namespace Chat.Chaos;

/// <summary>The system under test: a throwaway PostgreSQL, silo processes and standalone gateway processes.</summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix",
    Justification = "A running chat stack (PostgreSQL, silos, gateways), not a Stack<T> collection; every name for it here ends in Stack.")]
public sealed class Stack : IAsyncDisposable
{
    private readonly RunFolder _run;
    private readonly Action<string> _log;

    private Stack(RunFolder run, LocalPostgresCluster postgres, Action<string> log)
    {
        (_run, Postgres, _log) = (run, postgres, log);
        RunId = Guid.NewGuid().ToString("N")[..8];
        // One cluster certificate for every silo and gateway of the run, as a deployment has.
        _clusterCertificate = Path.Combine(run.Path, "cluster.pem");
        ClusterCredentials.LoadOrCreate(_clusterCertificate);
    }

    private readonly string _clusterCertificate;

    public LocalPostgresCluster Postgres { get; }
    public string ConnectionString => Postgres.ConnectionString;
    public string RunId { get; }
    public string SigningKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    public List<Node> Silos { get; } = [];
    public List<Node> Gateways { get; } = [];
    public IEnumerable<Node> Nodes => Silos.Concat(Gateways);
    public bool PostgresUp { get; private set; } = true;

    /// <summary>Keep the run folder (logs of every process) after the run: true until a run says it ended clean.</summary>
    public bool Keep { get; set; } = true;

    /// <summary>How long a node may take to become ready (the machine may be loaded).</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);

    public static async Task<Stack> StartAsync(RunFolder run, int silos, int gateways, IReadOnlyDictionary<string, string> settings,
        Action<string> log, CancellationToken cancellationToken)
    {
        var postgres = await LocalPostgresCluster.StartAsync(run.Postgres, durable: false, cancellationToken: cancellationToken);
        var stack = new Stack(run, postgres, log);
        await ChatSchema.MigrateAsync(postgres.ConnectionString, cancellationToken: cancellationToken);
        log($"PostgreSQL on 127.0.0.1:{postgres.Port}, schema migrated; cluster chaos-{stack.RunId}");

        var (siloDll, gatewayDll) = (BuiltDll("Silo", "Chat.Silo.dll"), BuiltDll("Frontend.Host", "Chat.Frontend.Host.dll"));
        for (var i = 0; i < silos; i++)
        {
            var http = RunFolder.FreePort();
            var environment = stack.Common(settings);
            environment["Chat__Gateway__Enabled"] = "false";
            environment["Chat__SiloPort"] = RunFolder.FreePort().ToString(CultureInfo.InvariantCulture);
            environment["Chat__GatewayPort"] = RunFolder.FreePort().ToString(CultureInfo.InvariantCulture);
            environment["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}";
            environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{RunFolder.FreePort()}";
            environment["Chat__Dashboard__Enabled"] = "false";
            environment["Chat__ShutdownTimeout"] = "00:00:10";
            // The janitor: a gateway silent for 5 s is dead, looked for every second (presence check at the end).
            environment["Chat__Connections__GatewayTimeout"] = "00:00:05";
            environment["Chat__Connections__Interval"] = "00:00:01";
            Override(environment, settings);
            stack.Silos.Add(new Node($"silo{i + 1}", NodeKind.Silo, siloDll, environment, run, http, 0));
        }
        for (var i = 0; i < gateways; i++)
        {
            var (http, grpc) = (RunFolder.FreePort(), RunFolder.FreePort());
            var environment = stack.Common(settings);
            environment["Chat__Auth__SigningKey"] = stack.SigningKey;
            environment["Chat__Gateway__HeartbeatInterval"] = "00:00:01";
            // Every simulated client is 127.0.0.1, one client address: the per-address limits would refuse most of them.
            foreach (var (key, value) in GatewayOptions.AsEnvironment(GatewayOptions.AddressLimitsLifted)) environment[key] = value;
            environment["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}";
            environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}";
            environment["Chat__ShutdownTimeout"] = "00:00:10";
            Override(environment, settings);
            stack.Gateways.Add(new Node($"gateway{i + 1}", NodeKind.Gateway, gatewayDll, environment, run, http, grpc));
        }
        try
        {
            // The first silo alone first: it creates the cluster; the others join it.
            await stack.StartNodeAsync(stack.Silos[0], cancellationToken);
            await Task.WhenAll(stack.Silos.Skip(1).Select(s => stack.StartNodeAsync(s, cancellationToken)));
            await Task.WhenAll(stack.Gateways.Select(g => stack.StartNodeAsync(g, cancellationToken)));
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
        return stack;
    }

    private Dictionary<string, string> Common(IReadOnlyDictionary<string, string> settings) => new()
    {
        ["ConnectionStrings__Chat"] = ConnectionString,
        ["Chat__Cluster__Certificate"] = _clusterCertificate,
        ["Chat__ClusterId"] = $"chaos-{RunId}",
        ["Chat__ServiceId"] = $"chaos-{RunId}",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Warning",
        ["DOTNET_NOLOGO"] = "1",
    };

    /// <summary>--set Key=Value: given to every silo and gateway, after the driver's own settings.</summary>
    private static void Override(Dictionary<string, string> environment, IReadOnlyDictionary<string, string> settings)
    {
        foreach (var (key, value) in settings) environment[key] = value;
    }

    /// <summary>The dll of a project under src/, built in the driver's own configuration (tests/Chat.Chaos/bin/CONFIG/net10.0).</summary>
    private static string BuiltDll(string project, string dll)
    {
        var variable = $"CHAT_CHAOS_{project.ToUpperInvariant().Replace('.', '_')}_DLL";
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } configured) return configured;
        var own = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var (framework, configuration) = (own.Name, own.Parent!.Name);
        var root = own.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(root, "src", project, "bin", configuration, framework, dll);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} is not built: dotnet build tests/Chat.Chaos -c {configuration} builds it (or set {variable})");
        return path;
    }

    /// <summary>Starts a node and waits until it is ready; a start that fails (PostgreSQL down, say) is tried again.</summary>
    public async Task StartNodeAsync(Node node, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            if (!node.IsUp) node.Start();
            try
            {
                await node.WaitReadyAsync(deadline - DateTime.UtcNow, cancellationToken);
                return;
            }
            catch (NodeFailedException e) when (DateTime.UtcNow < deadline && !node.IsUp)
            {
                _log($"{node.Name} did not come up ({e.Message}); starting it again");
                await Task.Delay(1000, cancellationToken);
            }
        }
    }

    public async Task StopPostgresAsync()
    {
        PostgresUp = false;
        await Postgres.StopAsync(immediate: true);
    }

    public async Task StartPostgresAsync()
    {
        await Postgres.RestartAsync();
        PostgresUp = true;
    }

    /// <summary>Everything up again: PostgreSQL, then every node that is down.</summary>
    public async Task HealAsync(CancellationToken cancellationToken)
    {
        if (!PostgresUp) await StartPostgresAsync();
        await Task.WhenAll(Nodes.Where(n => !n.IsUp).Select(n => StartNodeAsync(n, cancellationToken)));
    }

    /// <summary>Last resort (process exit, watchdog): kill -9 every node, stop PostgreSQL. Synchronous.</summary>
    public void KillAll()
    {
        foreach (var node in Nodes) node.Kill();
        try { Postgres.StopAsync(immediate: true).Wait(TimeSpan.FromSeconds(20)); } catch (AggregateException) { }
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        // Gateways first (their users go offline), then silos, then PostgreSQL; each bounded.
        await Task.WhenAll(Gateways.Select(g => g.StopAsync(TimeSpan.FromSeconds(15))));
        await Task.WhenAll(Silos.Select(s => s.StopAsync(TimeSpan.FromSeconds(15))));
        try { await Postgres.StopAsync(immediate: true); }
        catch (InvalidOperationException) { /* already stopped */ }
        if (Keep || Environment.GetEnvironmentVariable("CHAT_CHAOS_KEEP") == "1")
        {
            File.WriteAllText(Path.Combine(_run.Path, "keep"), "logs kept for a day: the run found violations or failed\n");
        }
        else
        {
            try { Directory.Delete(_run.Path, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
