using System.Diagnostics;
using System.Net;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// Issue 13, finding 1: the connection string alone let a process join the Orleans cluster (the membership table says where
/// the silos are) and act for anyone, since grains trust the caller identity their gateway passes. Now every Orleans
/// connection is mutual TLS with the cluster certificate. A real stack process (silo and co-hosted gateway, listening on
/// TCP) holds a victim's database; outsiders with the connection string and the cluster id, but without the certificate,
/// try to join it as an Orleans client, as a silo, and as the project's own gateway binary.
/// </summary>
public sealed class ClusterTrustTests(ClusterTrustTests.Fixture stack) : IClassFixture<ClusterTrustTests.Fixture>
{
    public enum Credential
    {
        /// <summary>Plain TCP, as every connection was before.</summary>
        None,
        /// <summary>TLS with a self-signed certificate of the outsider's own, accepting any certificate the silo shows.</summary>
        OwnCertificate,
    }

    [Fact]
    public async Task A_client_with_the_cluster_certificate_calls_grains()
    {
        using var client = await StartClientAsync(stack, c => c.UseChatClusterSettings(TestClusterCredentials.Credentials));

        var grains = client.Services.GetRequiredService<IClusterClient>();
        var described = await grains.GetGrain<IDatabaseGrain>(Fixture.Database).Describe();

        Assert.NotNull(described);
    }

    [Theory]
    [InlineData(Credential.None)]
    [InlineData(Credential.OwnCertificate)]
    public async Task A_client_without_the_cluster_certificate_cannot_connect(Credential credential)
    {
        // Orleans keeps retrying a refused gateway connection for minutes; the outsider only has to fail to call a grain in
        // this time, which the certificate holder's client (A_client_with_the_cluster_certificate_calls_grains) does in well under a second.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var refused = await Record.ExceptionAsync(async () =>
        {
            using var client = await StartClientAsync(stack, c => Outsider(c, credential), deadline.Token);
            // Reaching this line is the finding: an outsider's client, ready to call any grain as anyone.
            await client.Services.GetRequiredService<IClusterClient>().GetGrain<IDatabaseGrain>(Fixture.Database).Describe().WaitAsync(deadline.Token);
        });

        Assert.NotNull(refused);
        await stack.AssertVictimIntactAsync();
    }

    [Theory]
    [InlineData(Credential.None)]
    [InlineData(Credential.OwnCertificate)]
    public async Task A_silo_without_the_cluster_certificate_cannot_join(Credential credential)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (stack.ClusterId, stack.ServiceId));
            silo.ConfigureEndpoints(IPAddress.Loopback, StackProcess.FreePort(), StackProcess.FreePort());
            silo.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = ("Npgsql", stack.ConnectionString));
            // The outsider's own settings: give up joining soon rather than after Orleans' five minutes.
            silo.Configure<ClusterMembershipOptions>(o => (o.MaxJoinAttemptTime, o.ProbeTimeout) = (TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(2)));
            if (credential == Credential.OwnCertificate)
                silo.UseTls(OwnCertificate);
        });
        // Orleans' own handler ends the process when the cluster declares a silo dead, which it does to a refused one.
        builder.Services.AddSingleton<IFatalErrorHandler, KeepTheTestRunning>();
        using var rogue = builder.Build();

        var refused = await Record.ExceptionAsync(() => rogue.StartAsync());

        Assert.NotNull(refused);
        Assert.False(await stack.IsActiveMemberAsync(rogue), "the outsider's silo is Active in the membership table");
        await stack.AssertVictimIntactAsync();
        try { await rogue.StopAsync(); }
        catch (Exception) { /* it never started */ }
    }

    /// <summary>
    /// The finding as reported: src/Frontend.Host started with an attacker's signing key and the connection string. It used to
    /// join, accept a token it forged for the victim, read the victim's owner-only logs and delete the database. Now it has
    /// no cluster certificate (it generates one of its own in its own data folder, since PostgreSQL is on this machine),
    /// so its TLS handshakes with the silo fail (neither end's certificate chains to the other's anchor), and it never
    /// serves a call. (That the silo itself checks a client's certificate, however lax the client: the tests above.)
    /// </summary>
    [Fact]
    public async Task The_gateway_binary_with_an_attackers_signing_key_and_the_connection_string_is_refused()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chat-rogue-{Guid.NewGuid():N}");
        var (grpc, http) = (StackProcess.FreePort(), StackProcess.FreePort());
        var start = new ProcessStartInfo("dotnet", [GatewayDll()])
        {
            WorkingDirectory = Path.GetDirectoryName(GatewayDll())!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in new Dictionary<string, string>
                 {
                     ["ConnectionStrings__Chat"] = stack.ConnectionString,
                     ["Chat__ClusterId"] = stack.ClusterId,
                     ["Chat__ServiceId"] = stack.ServiceId,
                     ["Chat__DataDirectory"] = folder,
                     ["Chat__Auth__SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
                     ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
                     ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
                 })
            start.Environment[key] = value;
        using var rogue = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        rogue.OutputDataReceived += (_, line) => { if (line.Data is not null) output.Enqueue(line.Data); };
        rogue.ErrorDataReceived += (_, line) => { if (line.Data is not null) output.Enqueue(line.Data); };
        rogue.BeginOutputReadLine();
        rogue.BeginErrorReadLine();
        try
        {
            using var httpClient = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            var clock = Stopwatch.StartNew();
            // Until the outsider's Orleans client has failed a TLS handshake with the silo; it must not become ready meanwhile.
            while (!output.Any(line => line.Contains("Authentication failed", StringComparison.Ordinal)))
            {
                Assert.False(await IsReadyAsync(httpClient, http), $"the outsider's gateway joined the cluster and is ready. Its output:\n{string.Join('\n', output)}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"no failed handshake within 120 s. The outsider's output:\n{string.Join('\n', output)}");
                await Task.Delay(200);
            }

            Assert.False(await IsReadyAsync(httpClient, http), "the outsider's gateway is ready after the silo refused it");
            Assert.True(File.Exists(ClusterCredentials.LocalFile(folder)), "the outsider's gateway did not present a certificate of its own");
            // What it would have served: nothing listens, so the victim's logs stay the owner's.
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}");
            var unreachable = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            {
                using var logs = new V1.Chat.ChatClient(channel).Logs(new V1.LogsRequest { Database = Fixture.Database });
                await logs.ResponseStream.MoveNext(CancellationToken.None);
            });
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, unreachable.StatusCode);
            await stack.AssertVictimIntactAsync();
        }
        finally
        {
            if (!rogue.HasExited) rogue.Kill(entireProcessTree: true);
            await rogue.WaitForExitAsync();
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
        }
    }

    private static async Task<bool> IsReadyAsync(HttpClient http, int port)
    {
        try
        {
            return (await http.GetAsync($"http://127.0.0.1:{port}/readyz")).IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_deployment_without_a_cluster_certificate_refuses_to_start()
    {
        // PostgreSQL named by a non-loopback address: a deployment, where a generated certificate would be a cluster of one.
        var remote = new Npgsql.NpgsqlConnectionStringBuilder(stack.ConnectionString) { Host = "postgres.invalid" }.ConnectionString;
        using var silo = StackProcess.Start(remote, "no-certificate", "no-certificate", new Dictionary<string, string> { ["Chat__Cluster__Certificate"] = "" });

        Assert.NotEqual(0, await silo.WaitForExitInsteadOfReadyAsync());
        Assert.Contains("Chat:Cluster:Certificate is not set", silo.Output);
    }

    private static void Outsider(IClientBuilder client, Credential credential)
    {
        if (credential == Credential.OwnCertificate)
            client.UseTls(OwnCertificate);
    }

    private static void OwnCertificate(TlsOptions options)
    {
        options.LocalCertificate = ClusterCredentials.CreateSelfSigned("outsider");
        options.AllowAnyRemoteCertificate();
    }

    private static async Task<IHost> StartClientAsync(Fixture stack, Action<IClientBuilder> security, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (stack.ClusterId, stack.ServiceId));
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = ("Npgsql", stack.ConnectionString));
            // Our gateway's response timeout (Chat:Cluster): a refused client gives up after it, not Orleans' 30 s, at each step of its start.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            security(client);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
            return host;
        }
        catch
        {
            // In the background: a refused client's host takes as long to stop as it kept retrying.
            _ = Task.Run(host.Dispose, CancellationToken.None);
            throw;
        }
    }

    private sealed class KeepTheTestRunning : IFatalErrorHandler
    {
        public bool IsUnexpected(Exception exception) => true;
        public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null) { }
    }

    /// <summary>src/Frontend.Host's build, beside this test project's (tests/Chat.Tests/bin/CONFIG/net10.0 → src/Frontend.Host/bin/CONFIG/net10.0).</summary>
    private static string GatewayDll()
    {
        var own = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var root = own.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(root, "src", "Frontend.Host", "bin", own.Parent!.Name, own.Name, "Chat.Frontend.Host.dll");
        Assert.True(File.Exists(path), $"{path} is not built");
        return path;
    }

    /// <summary>A stack process holding a victim's database, which the victim owns and has logged to.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public const string Database = "victim";
        public string ConnectionString { get; private set; } = "";
        public string ClusterId { get; } = $"trust-{Guid.NewGuid():N}"[..16];
        public string ServiceId => ClusterId;
        public string VictimToken { get; private set; } = "";
        private StackProcess? _stack;
        private GrpcChannel? _channel;

        public async Task InitializeAsync()
        {
            ConnectionString = await TestPostgres.CreateDatabaseAsync();
            _stack = StackProcess.Start(ConnectionString, ClusterId, ServiceId);
            await _stack.WaitUntilReadyAsync();
            _channel = GrpcChannel.ForAddress(_stack.GrpcAddress);
            var victim = await new V1.Chat.ChatClient(_channel).CreateIdentityAsync(new V1.CreateIdentityRequest());
            VictimToken = victim.Token;
            await new V1.Databases.DatabasesClient(_channel).PublishAsync(new V1.PublishRequest { Database = Database }, TestGateway.Bearer(VictimToken));
            await new V1.Chat.ChatClient(_channel).SendMessageAsync(new V1.SendMessageRequest { Database = Database, Text = "only the owner reads the logs" },
                TestGateway.Bearer(VictimToken));
        }

        /// <summary>The victim's database is still there, and its owner still reads its logs through the real gateway.</summary>
        public async Task AssertVictimIntactAsync()
        {
            var chat = new V1.Chat.ChatClient(_channel);
            var listed = await new V1.Databases.DatabasesClient(_channel).ListAsync(new V1.ListRequest(), TestGateway.Bearer(VictimToken));
            Assert.Contains(listed.Databases, d => d.Name == Database);
            using var logs = chat.Logs(new V1.LogsRequest { Database = Database }, TestGateway.Bearer(VictimToken));
            Assert.True(await logs.ResponseStream.MoveNext(CancellationToken.None), "the owner reads no log record");
        }

        /// <summary>Whether a silo on the outsider's ports is Active in this cluster's membership table.</summary>
        public async Task<bool> IsActiveMemberAsync(IHost silo)
        {
            var endpoint = silo.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
            return await TestPostgres.ScalarAsync<long>(ConnectionString,
                "SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = @cluster AND port = @port AND status = 3",
                ("cluster", ClusterId), ("port", endpoint.SiloPort)) > 0;
        }

        public Task DisposeAsync()
        {
            _channel?.Dispose();
            _stack?.Dispose();
            return Task.CompletedTask;
        }
    }
}
