using Chat;
using Chat.Frontend;
using Chat.Development;
using Orleans.Configuration;

// A standalone gateway: an Orleans client of a running cluster, found through the membership table in PostgreSQL.
var builder = WebApplication.CreateBuilder(args);
var connectionString = builder.Configuration.GetConnectionString("Chat");
if (string.IsNullOrWhiteSpace(connectionString))
{
    // Locally, the silo's own PostgreSQL (started by `dotnet run --project src/Silo`).
    var folder = Path.Combine(LocalDataDirectory.Resolve(builder.Configuration["Chat:DataDirectory"]), "postgres");
    connectionString = LocalPostgresCluster.FindRunning(folder);
    if (connectionString is null)
    {
        Console.Error.WriteLine($"No cluster to join: ConnectionStrings__Chat is not set and no local PostgreSQL runs in {folder}. " +
                                "Start the stack first with `dotnet run --project src/Silo`, or set ConnectionStrings__Chat to the cluster's PostgreSQL.");
        return 1;
    }
}

ClusterCredentials clusterCredentials;
try
{
    clusterCredentials = ClusterCredentials.Resolve(builder.Configuration, connectionString,
        LocalDataDirectory.Resolve(builder.Configuration["Chat:DataDirectory"]));
}
catch (Exception e) when (e is InvalidOperationException or System.Security.Cryptography.CryptographicException)
{
    Console.Error.WriteLine($"Cannot start: {e.Message}");
    return 1;
}

builder.UseOrleansClient(client =>
{
    client.Configure<ClusterOptions>(o =>
    {
        o.ClusterId = Environment.GetEnvironmentVariable("ORLEANS_CLUSTER_ID") ?? builder.Configuration["Chat:ClusterId"] ?? "chat-local";
        o.ServiceId = Environment.GetEnvironmentVariable("ORLEANS_SERVICE_ID") ?? builder.Configuration["Chat:ServiceId"] ?? "chat";
    });
    client.UseAdoNetClustering(o =>
    {
        o.Invariant = "Npgsql";
        o.ConnectionString = connectionString;
    });
    // Mutual TLS with the cluster certificate; response timeout and gateway list refresh from Chat:Cluster, as the silos use.
    client.UseChatClusterSettings(clusterCredentials);
});
builder.Services.AddChatGateway(builder.Configuration);
builder.Services.AddChatTelemetry(builder.Configuration, "chat-gateway");
// Long enough for every Connect stream to end and run identity_disconnected.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = builder.Configuration.GetValue("Chat:ShutdownTimeout", TimeSpan.FromSeconds(30)));

var app = builder.Build();
app.MapChatGateway();
app.MapChatMetrics();
app.Run();
return 0;
