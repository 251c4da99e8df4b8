using Chat.Api.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Chat.Cli;

/// <summary>Everything a command runs with: its streams, the saved configuration, the gateway it talks to, and who it is.</summary>
internal sealed class CliContext : IDisposable
{
    private readonly string? _serverOption;
    private readonly string? _identityOption;
    private readonly string? _profile;
    private readonly Func<string, string?> _environment;
    private GrpcChannel? _channel;
    private string? _server;

    public CliContext(TextReader input, TextWriter output, TextWriter error, ConfigStore config, CliRunOptions options, ParsedArguments arguments)
    {
        (In, Out, Err, Config) = (input, output, error, config);
        _environment = options.Environment ?? Environment.GetEnvironmentVariable;
        Colors = new Colors(options.Color && string.IsNullOrEmpty(_environment("NO_COLOR")));
        ErrorColors = new Colors(options.ErrorColor && string.IsNullOrEmpty(_environment("NO_COLOR")));
        Cancellation = options.Cancellation;
        Interactive = options.Interactive;
        _serverOption = arguments.Value("server");
        _identityOption = arguments.Value("identity");
        _profile = arguments.Value("profile") ?? NonEmpty(_environment("CHAT_PROFILE"));
        if (_profile is not null && _identityOption is not null) throw new UsageException("give --identity or --profile, not both");
        if (_profile is not null) IdentityCommands.ValidateNickname(_profile);
        Terminal = options.Terminal;
    }

    /// <summary>stdin and stdout are both a terminal: the chat client edits its input line itself.</summary>
    public bool Terminal { get; }

    public TextReader In { get; }
    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public ConfigStore Config { get; }
    public Colors Colors { get; }
    public Colors ErrorColors { get; }
    public CancellationToken Cancellation { get; }
    public bool Interactive { get; }

    /// <summary>
    /// Goes on only with the person's yes: <c>--yes</c>, or y at a prompt on a terminal. Without a terminal there is no one
    /// to ask, so the command is refused (exit 64) rather than run unconfirmed.
    /// </summary>
    public async Task ConfirmAsync(ParsedArguments args, string question, string command)
    {
        if (args.Has("yes")) return;
        if (!Interactive)
            throw new UsageException($"{question.TrimEnd('?')}: this cannot be undone, and stdin is not a terminal to ask on; to go ahead, run: {command} --yes");
        Err.Write($"{question} This cannot be undone. [y/N] ");
        Err.Flush();
        var answer = (await In.ReadLineAsync(Cancellation))?.Trim();
        if (answer is null || !(answer.Equals("y", StringComparison.OrdinalIgnoreCase) || answer.Equals("yes", StringComparison.OrdinalIgnoreCase)))
            throw new CliException("Cancelled; nothing was changed.");
    }

    /// <summary>The gateway's address: <c>--server</c>, else <c>$CHAT_SERVER</c>, else the saved default, else the local stack's.</summary>
    public string Server => _server ??= ResolveServer();

    /// <summary>The address as it is before anything could fail (for error messages).</summary>
    public string ServerOrDefault
    {
        get
        {
            try { return Server; }
            catch (Exception e) when (e is UsageException or CliException) { return _serverOption ?? ConfigData.LocalAddress; }
        }
    }

    private string ResolveServer()
    {
        var config = Config.Load();
        var wanted = _serverOption ?? NonEmpty(_environment("CHAT_SERVER"));
        if (wanted is not null) return config.FindServer(wanted)?.Address ?? ServerAddress.Normalize(wanted);
        if (config.DefaultServer is { } nickname && config.Servers.FirstOrDefault(s => s.Nickname == nickname) is { } server) return server.Address;
        return ConfigData.LocalAddress;
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    private GrpcChannel Channel => _channel ??= GrpcChannel.ForAddress(Server, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(15),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        },
        DisposeHttpClient = true,
        // A silo leaving (a rolling restart) makes a few calls fail with UNAVAILABLE; they are worth a retry. Reducer
        // calls carry an idempotency key, so a retry of one that committed after all is answered with its result, not run again.
        ServiceConfig = new Grpc.Net.Client.Configuration.ServiceConfig
        {
            MethodConfigs =
            {
                new Grpc.Net.Client.Configuration.MethodConfig
                {
                    Names = { Grpc.Net.Client.Configuration.MethodName.Default },
                    RetryPolicy = new Grpc.Net.Client.Configuration.RetryPolicy
                    {
                        MaxAttempts = 4,
                        InitialBackoff = TimeSpan.FromMilliseconds(200),
                        MaxBackoff = TimeSpan.FromSeconds(2),
                        BackoffMultiplier = 2,
                        RetryableStatusCodes = { StatusCode.Unavailable },
                    },
                },
            },
        },
    });

    public Api.V1.Chat.ChatClient Chat => new(Channel);
    public Databases.DatabasesClient Databases => new(Channel);

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    /// <summary>
    /// The identity to act as on this gateway: <c>--identity</c>, else the default one, else a new one made with
    /// CreateIdentity, saved as the default (and said so on stderr) so that the next run is the same person.
    /// </summary>
    public async Task<IdentityEntry> RequireIdentityAsync()
    {
        var server = Server;
        var config = Config.Load();
        if (_identityOption is not null) return config.FindIdentity(server, _identityOption);
        // A profile is the saved identity with its name as nickname: another person at the same machine and folder.
        if (_profile is not null && config.IdentitiesOf(server).FirstOrDefault(i => i.Nickname == _profile) is { } mine) return mine;
        if (_profile is null && config.IdentitiesOf(server).FirstOrDefault(i => i.Default) is { } saved) return saved;

        var created = await Chat.CreateIdentityAsync(new CreateIdentityRequest(), cancellationToken: Cancellation);
        var entry = Config.Update(c =>
        {
            // Two runs making the same profile at once keep the first one saved.
            if (_profile is not null && c.IdentitiesOf(server).FirstOrDefault(i => i.Nickname == _profile) is { } raced) return raced;
            var entry = new IdentityEntry { Server = server, Identity = created.Identity, Token = created.Token, Created = DateTimeOffset.UtcNow, Nickname = _profile };
            entry.Default = _profile is null && !c.IdentitiesOf(server).Any(i => i.Default);
            c.Identities.Add(entry);
            return entry;
        });
        if (entry.Identity == created.Identity)
            Err.WriteLine(_profile is null
                ? $"Created identity {entry.Identity} on {server}; saved in {Config.FilePath}."
                : $"Created identity {entry.Identity} for profile {_profile} on {server}; saved in {Config.FilePath}.");
        return entry;
    }

    public async Task<Metadata> AuthorizationAsync() => Bearer((await RequireIdentityAsync()).Token);

    public void Dispose() => _channel?.Dispose();
}

/// <summary>How the real program runs the CLI (tests use the defaults).</summary>
public sealed class CliRunOptions
{
    /// <summary>Colour on stdout (the caller knows whether it is a terminal); NO_COLOR still turns it off.</summary>
    public bool Color { get; init; }
    public bool ErrorColor { get; init; }
    /// <summary>Ctrl+C: long-running commands stop cleanly when it fires.</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Whether stdin is a terminal a person types at: only then may a command ask for confirmation.</summary>
    public bool Interactive { get; init; }
    /// <summary>Environment lookup (CHAT_SERVER, NO_COLOR); the process environment when null.</summary>
    public Func<string, string?>? Environment { get; init; }
    /// <summary>stdin and stdout are a terminal (the chat client then draws its own input line).</summary>
    public bool Terminal { get; init; }
}
