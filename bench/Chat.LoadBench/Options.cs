using System.Globalization;

namespace Chat.LoadBench;

/// <summary>The command line. Values given explicitly win over what <c>--quick</c> shortens.</summary>
public sealed class BenchOptions
{
    public const string Usage =
        "usage: Chat.LoadBench [--scenarios send] [--quick]\n" +
        "         [--connections 1,16,64,256] [--seconds N] [--warmup N]        (send)";

    public static readonly string[] AllScenarios = ["send"];

    public HashSet<string> Scenarios { get; private set; } = [.. AllScenarios];
    public bool Quick { get; private set; }
    public int[] SendConnections { get; private set; } = [1, 16, 64, 256];
    public double SendSeconds { get; private set; } = 5;
    public double WarmupSeconds { get; private set; } = 1;

    public bool Runs(string scenario) => Scenarios.Contains(scenario);

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        double? seconds = null;
        for (var i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--quick": options.Quick = true; break;
                case "--scenarios":
                    options.Scenarios = [.. Next(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                    if (options.Scenarios.Count == 0 || !options.Scenarios.IsSubsetOf(AllScenarios))
                        throw new FormatException($"--scenarios takes some of {string.Join(",", AllScenarios)}");
                    break;
                case "--connections": options.SendConnections = Ints(Next(args, ref i)); break;
                case "--seconds": seconds = Double(Next(args, ref i)); break;
                case "--warmup": options.WarmupSeconds = Double(Next(args, ref i)); break;
                default: throw new FormatException($"unknown argument '{args[i]}'");
            }
        options.SendSeconds = seconds ?? (options.Quick ? 2 : 5);
        if (options.SendConnections.Length == 0 || options.SendConnections.Any(n => n is < 1 or > 2000))
            throw new FormatException("--connections: 1..2000 connections per level");
        if (options.SendSeconds is <= 0 or > 60 || options.WarmupSeconds is < 0 or > 60)
            throw new FormatException("need 0 < seconds <= 60, 0 <= warmup <= 60");
        return options;
    }

    private static string Next(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value");

    private static int[] Ints(string text) => text.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).Distinct().ToArray();

    private static double Double(string text) => double.Parse(text, CultureInfo.InvariantCulture);
}
