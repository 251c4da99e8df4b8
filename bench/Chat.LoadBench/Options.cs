using System.Globalization;

namespace Chat.LoadBench;

/// <summary>One chat-room configuration: R rooms (databases) x U subscribed users each, a fixed total send rate.</summary>
public sealed record RoomConfig(int Rooms, int Users, double Rate)
{
    /// <summary>"RxU@RATE", e.g. "1x100@1000": 1 room of 100 users, 1,000 messages/s in all.</summary>
    public static RoomConfig Parse(string text)
    {
        var at = text.Split('@');
        var x = at[0].Split('x');
        if (at.Length != 2 || x.Length != 2) throw new FormatException($"room configuration '{text}' is not RxU@RATE (e.g. 1x100@1000)");
        var config = new RoomConfig(int.Parse(x[0], CultureInfo.InvariantCulture), int.Parse(x[1], CultureInfo.InvariantCulture),
            double.Parse(at[1], CultureInfo.InvariantCulture));
        if (config.Rooms is < 1 or > 100 || config.Users is < 1 or > 5000 || config.Rooms * config.Users > 10_000 || config.Rate is <= 0 or > 20_000)
            throw new FormatException($"room configuration '{text}': need 1..100 rooms, 1..5000 users each, at most 10,000 in all, 0 < rate <= 20,000");
        return config;
    }

    public override string ToString() => $"{Rooms}x{Users}@{Rate.ToString("0.#", CultureInfo.InvariantCulture)}";

    public string Label => $"{Rooms} room{(Rooms == 1 ? "" : "s")} x {Users} users, {Rate:0} msg/s";
}

/// <summary>The command line. Values given explicitly win over what <c>--quick</c> shortens.</summary>
public sealed class BenchOptions
{
    public const string Usage =
        "usage: Chat.LoadBench [--scenarios send,room,connections,noisy,rooms] [--quick]\n" +
        "         [--connections 1,16,64,256] [--seconds N] [--warmup N]        (send)\n" +
        "         [--rooms 1x100@1000,10x100@1000,1x1000@200] [--room-seconds N] (room)\n" +
        "         [--idle 1000,10000] [--build-silo]                            (connections)\n" +
        "         [--noisy-seconds N] [--attacks subscriptions,stalled,...]     (noisy; not run unless named)\n" +
        "         [--many-rooms 1000x4] [--rates 250,500,1000,2000,4000] [--rate-seconds N] (rooms; not run unless named)\n" +
        "         [--stack-process]   (send, room, rooms: the stack binary in a process of its own, its CPU reported apart)\n" +
        "         [--gateway http://127.0.0.1:50051 --postgres CONNECTION_STRING] (send and room against a running stack)\n" +
        "   or: Chat.LoadBench --chart-from bench/results/load-STAMP.json [--chart-to FILE.png]   (redraw the send chart, measure nothing)";

    /// <summary>What runs when --scenarios is not given.</summary>
    public static readonly string[] AllScenarios = ["send", "room", "connections"];

    /// <summary>Every scenario --scenarios takes; noisy (issue 12, hostile clients) and rooms (issue 15, many small rooms) only run when named.</summary>
    public static readonly string[] KnownScenarios = [.. AllScenarios, "noisy", "rooms"];

    public HashSet<string> Scenarios { get; private set; } = [.. AllScenarios];
    public bool Quick { get; private set; }
    public int[] SendConnections { get; private set; } = [1, 16, 64, 256];
    public double SendSeconds { get; private set; } = 5;
    public double WarmupSeconds { get; private set; } = 1;
    public RoomConfig[] Rooms { get; private set; } = [new(1, 100, 1000), new(10, 100, 1000), new(1, 1000, 200)];
    public double RoomSeconds { get; private set; } = 6;
    public int[] IdleConnections { get; private set; } = [1000, 10_000];
    public bool BuildSilo { get; private set; }

    /// <summary>Run the stack (src/Silo's binary) as a process of its own for send, room and rooms, so that its CPU is told from the clients'.</summary>
    public bool StackProcess { get; private set; }

    /// <summary>The many-rooms scenario: this many databases (rooms), each with <see cref="ManyRoomsUsers"/> connected members.</summary>
    public int ManyRooms { get; private set; } = 1000;

    public int ManyRoomsUsers { get; private set; } = 4;

    /// <summary>Total send rates (messages/s over all rooms) the many-rooms scenario steps through, in this order.</summary>
    public double[] ManyRoomsRates { get; private set; } = [250, 500, 1000, 2000, 4000];

    /// <summary>Seconds of sending at each rate, per side (stack, raw PostgreSQL).</summary>
    public double ManyRoomsSeconds { get; private set; } = 5;

    /// <summary>Seconds the victim sends in each phase of the noisy-neighbour scenario.</summary>
    public double NoisySeconds { get; private set; } = 20;

    /// <summary>The attacks the noisy-neighbour scenario runs, in this order.</summary>
    public string[] Attacks { get; private set; } = NoisyAttacks.Names;

    /// <summary>A running stack's gateway (loopback only) to measure instead of one started here; with <see cref="Postgres"/>.</summary>
    public string? Gateway { get; private set; }

    /// <summary>That stack's PostgreSQL, for the honesty checks and the raw-PostgreSQL baseline.</summary>
    public string? Postgres { get; private set; }

    public bool Runs(string scenario) => Scenarios.Contains(scenario);

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        double? seconds = null, roomSeconds = null, noisySeconds = null;
        int[]? idle = null;
        (int Rooms, int Users)? manyRooms = null;
        double[]? rates = null;
        double? rateSeconds = null;
        for (var i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--quick": options.Quick = true; break;
                case "--scenarios":
                    options.Scenarios = [.. Next(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                    if (options.Scenarios.Count == 0 || !options.Scenarios.IsSubsetOf(KnownScenarios))
                        throw new FormatException($"--scenarios takes some of {string.Join(",", KnownScenarios)}");
                    break;
                case "--connections": options.SendConnections = Ints(Next(args, ref i)); break;
                case "--seconds": seconds = Double(Next(args, ref i)); break;
                case "--warmup": options.WarmupSeconds = Double(Next(args, ref i)); break;
                case "--rooms": options.Rooms = Next(args, ref i).Split(',').Select(RoomConfig.Parse).ToArray(); break;
                case "--room-seconds": roomSeconds = Double(Next(args, ref i)); break;
                case "--idle": idle = Ints(Next(args, ref i)); break;
                case "--build-silo": options.BuildSilo = true; break;
                case "--stack-process": options.StackProcess = true; break;
                case "--noisy-seconds": noisySeconds = Double(Next(args, ref i)); break;
                case "--attacks":
                    options.Attacks = Next(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToArray();
                    if (options.Attacks.Length == 0 || options.Attacks.Except(NoisyAttacks.Names).Any())
                        throw new FormatException($"--attacks takes some of {string.Join(",", NoisyAttacks.Names)}");
                    break;
                case "--many-rooms":
                    var rxu = Next(args, ref i).Split('x');
                    if (rxu.Length != 2) throw new FormatException("--many-rooms takes ROOMSxUSERS, e.g. 1000x4");
                    manyRooms = (int.Parse(rxu[0], CultureInfo.InvariantCulture), int.Parse(rxu[1], CultureInfo.InvariantCulture));
                    break;
                case "--rates": rates = Next(args, ref i).Split(',').Select(Double).Distinct().ToArray(); break;
                case "--rate-seconds": rateSeconds = Double(Next(args, ref i)); break;
                case "--gateway": options.Gateway = Loopback(Next(args, ref i)); break;
                case "--postgres": options.Postgres = Next(args, ref i); break;
                default: throw new FormatException($"unknown argument '{args[i]}'");
            }
        if ((options.Gateway is null) != (options.Postgres is null))
            throw new FormatException("--gateway and --postgres go together: the gateway to load, and its PostgreSQL to check what it stored");
        if (options.StackProcess && options.Gateway is not null)
            throw new FormatException("--stack-process starts the stack; --gateway measures one already running: give one of them");
        if (options.Postgres is { } postgres)
        {
            var host = new Npgsql.NpgsqlConnectionStringBuilder(postgres).Host ?? "";
            if (host.Split(',').Any(h => h is not ("127.0.0.1" or "localhost" or "::1")))
                throw new FormatException($"--postgres: host '{host}' is not loopback; this benchmark loads 127.0.0.1 only");
            if (!args.Contains("--scenarios")) options.Scenarios = ["send", "room"];
            else if (options.Runs("connections") || options.Runs("noisy"))
                throw new FormatException("the connections and noisy scenarios measure the memory of a stack process they start themselves; leave out --gateway for them");
        }
        options.SendSeconds = seconds ?? (options.Quick ? 2 : 5);
        options.RoomSeconds = roomSeconds ?? (options.Quick ? 2 : 6);
        options.IdleConnections = idle ?? (options.Quick ? [1000] : [1000, 10_000]);
        options.NoisySeconds = noisySeconds ?? (options.Quick ? 6 : 20);
        (options.ManyRooms, options.ManyRoomsUsers) = manyRooms ?? (options.Quick ? (100, 4) : (1000, 4));
        options.ManyRoomsRates = rates ?? (options.Quick ? [250, 1000, 2000, 4000] : [250, 500, 1000, 2000, 4000]);
        options.ManyRoomsSeconds = rateSeconds ?? (options.Quick ? 3 : 5);
        if (options.ManyRooms is < 1 or > 10_000 || options.ManyRoomsUsers is < 1 or > 100 || options.ManyRooms * options.ManyRoomsUsers > 20_000)
            throw new FormatException("--many-rooms: 1..10,000 rooms of 1..100 users, at most 20,000 connections in all");
        if (options.ManyRoomsRates.Length == 0 || options.ManyRoomsRates.Any(r => r is <= 0 or > 50_000) || options.ManyRoomsSeconds is <= 0 or > 60)
            throw new FormatException("--rates: 0 < rate <= 50,000 messages/s in all; --rate-seconds: 0 < seconds <= 60");
        if (options.NoisySeconds is < 1 or > 120) throw new FormatException("--noisy-seconds: 1..120");
        if (options.SendConnections.Length == 0 || options.SendConnections.Any(n => n is < 1 or > 2000))
            throw new FormatException("--connections: 1..2000 connections per level");
        if (options.SendSeconds is <= 0 or > 60 || options.WarmupSeconds is < 0 or > 60 || options.RoomSeconds is <= 0 or > 60)
            throw new FormatException("need 0 < seconds <= 60, 0 <= warmup <= 60, 0 < room-seconds <= 60");
        if (options.Rooms.Length == 0) throw new FormatException("--rooms: at least one configuration");
        if (options.IdleConnections.Length == 0 || options.IdleConnections.Any(n => n is < 1 or > 50_000))
            throw new FormatException("--idle: 1..50,000 connections per level");
        return options;
    }

    private static string Loopback(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && (uri.IsLoopback)
            ? address
            : throw new FormatException($"--gateway: '{address}' is not an http(s) address on loopback (like http://127.0.0.1:50051); this benchmark loads 127.0.0.1 only");

    private static string Next(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value");

    private static int[] Ints(string text) => text.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).Distinct().ToArray();

    private static double Double(string text) => double.Parse(text, CultureInfo.InvariantCulture);
}
