using Chat;
using Chat.Frontend;
using Chat.Grains;
using Chat.Silo;
using Chat.Development;
using Chat.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;

// The whole stack in one process: PostgreSQL (ours, unless a connection string is given), the schema,
// the Orleans silo, and the gRPC gateway co-hosted with it (Chat:Gateway:Enabled=false turns it off).
var builder = WebApplication.CreateBuilder(args);
// Long enough for the gateway's streams to end (users go offline) and grains to flush their last group commit.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = builder.Configuration.GetValue("Chat:ShutdownTimeout", TimeSpan.FromSeconds(30)));
var settings = builder.Configuration.GetSection("Chat").Get<SiloSettings>() ?? new SiloSettings();
using var loggerFactory = LoggerFactory.Create(b => b.AddConfiguration(builder.Configuration.GetSection("Logging")).AddSimpleConsole(o => o.SingleLine = true));
var startupLog = loggerFactory.CreateLogger("Chat.Silo");

// In Kubernetes the pod's identity comes from the downward API; the standard Orleans variables win over settings.
var clusterId = Environment.GetEnvironmentVariable("ORLEANS_CLUSTER_ID") ?? settings.ClusterId;
var serviceId = Environment.GetEnvironmentVariable("ORLEANS_SERVICE_ID") ?? settings.ServiceId;
var podIp = Environment.GetEnvironmentVariable("POD_IP");
var podName = Environment.GetEnvironmentVariable("POD_NAME");
var siloAddress = System.Net.IPAddress.Parse(podIp ?? settings.AdvertisedIPAddress);
var listenOnAny = podIp is not null || settings.ListenOnAnyAddress;
var gatewayEnabled = builder.Configuration.GetValue("Chat:Gateway:Enabled", true);

// Before anything starts: Orleans would share a busy port with its owner silently (see PortCheck).
var ports = PortCheck.Of(settings, listenOnAny ? System.Net.IPAddress.Any : siloAddress, builder.Configuration, gatewayEnabled).ToList();
if (PortCheck.FirstBusy(ports) is { } busy)
{
    startupLog.CannotStart(busy);
    return 1;
}

LocalPostgresCluster? localPostgres = null;
FileStream? stackLock = null;
var connectionString = builder.Configuration.GetConnectionString("Chat");
ClusterCredentials clusterCredentials;
try
{
    if (string.IsNullOrWhiteSpace(connectionString))
    {
        stackLock = LockDataDirectory(settings.ResolveDataDirectory());
        var folder = Path.Combine(settings.ResolveDataDirectory(), "postgres");
        localPostgres = await LocalPostgresCluster.StartAsync(folder, durable: true, startupLog);
        connectionString = localPostgres.ConnectionString;
    }
    // Before the schema: a deployment without its cluster certificate stops here, having changed nothing.
    clusterCredentials = ClusterCredentials.Resolve(builder.Configuration, connectionString, settings.ResolveDataDirectory());
    startupLog.ClusterCertificate(clusterCredentials.Origin);
    await ChatSchema.MigrateAsync(connectionString, startupLog);
}
catch (Exception e) when (e is InvalidOperationException or Npgsql.NpgsqlException or System.Security.Cryptography.CryptographicException)
{
    startupLog.CannotStart(e.Message);
    if (localPostgres is not null) await localPostgres.DisposeAsync();
    return 1;
}

var dashboard = builder.Configuration.GetValue("Chat:Dashboard:Enabled", true);
builder.UseOrleans(silo =>
{
    silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, serviceId));
    if (!string.IsNullOrEmpty(podName))
        silo.Configure<SiloOptions>(o => o.SiloName = podName);
    silo.ConfigureEndpoints(siloAddress, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: listenOnAny);
    silo.UseChatClustering(connectionString, clusterCredentials);
    silo.AddChat(connectionString);
    if (dashboard)
        silo.AddDashboard();
});
builder.Services.AddChatTelemetry(builder.Configuration, "chat-silo");
builder.Services.AddHealthChecks()
    .AddCheck<PostgresReadiness>("postgresql")
    .AddCheck<MembershipReadiness>("membership");

if (gatewayEnabled)
{
    builder.Services.AddChatGateway(builder.Configuration);
}
else
{
    // Without the gateway there is nothing to serve on the gRPC endpoint: listen on the others only.
    var kestrel = builder.Configuration.GetSection("Kestrel").AsEnumerable(makePathsRelative: true)
        .Where(e => e.Value is not null && !e.Key.StartsWith("Endpoints:Grpc", StringComparison.OrdinalIgnoreCase));
    var withoutGrpc = new ConfigurationBuilder().AddInMemoryCollection(kestrel).Build();
    builder.WebHost.ConfigureKestrel(options => options.Configure(withoutGrpc));
}

var host = builder.Build();
if (gatewayEnabled)
{
    host.MapChatGateway();
}
else
{
    host.MapGet("/healthz", () => Results.Text("ok"));
    host.MapHealthChecks("/readyz");
}
host.MapChatMetrics();
if (dashboard)
    host.MapOrleansDashboard("/dashboard");
var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
lifetime.ApplicationStarted.Register(() =>
{
    if (!startupLog.IsEnabled(LogLevel.Information)) return;
    startupLog.Up(clusterId, podName ?? Environment.MachineName, Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "-", Describe(connectionString),
        gatewayEnabled ? builder.Configuration["Kestrel:Endpoints:Grpc:Url"] : "off", builder.Configuration["Kestrel:Endpoints:Http:Url"], dashboard ? ", /dashboard" : "");
});
try
{
    // Again just before binding: another stack may have taken a port while PostgreSQL was starting.
    if (PortCheck.FirstBusy(ports) is { } taken)
    {
        startupLog.CannotStart(taken);
        return 1;
    }
    await host.RunAsync();
}
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    startupLog.PortTaken(e.Message);
    return 1;
}
finally
{
    // Orleans has stopped by now (grains deactivated, pending group commits flushed); the database goes last.
    if (localPostgres is { StartedHere: true })
    {
        startupLog.StoppingLocalPostgres();
        await localPostgres.DisposeAsync();
    }
    stackLock?.Dispose();
}
return 0;

// One stack per data folder: a second one would share (and at exit stop) the first one's PostgreSQL.
static FileStream LockDataDirectory(string folder)
{
    Directory.CreateDirectory(folder);
    var path = Path.Combine(folder, "stack.lock");
    try
    {
        return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
    }
    catch (IOException)
    {
        throw new InvalidOperationException($"Another chat stack is already running on the data folder {folder}. " +
            "Stop it first (Ctrl+C in its terminal), or give this one its own folder with Chat__DataDirectory.");
    }
}

static string Describe(string connectionString)
{
    var b = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
    return $"{b.Host}:{b.Port}/{b.Database}";
}
