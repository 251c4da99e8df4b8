using System.Globalization;

namespace Chat.Chaos;

public enum FaultKind { KillSilo, KillGateway, StopPostgres }

/// <summary>A planned fault: at <see cref="At"/> after the start of the load, down for <see cref="Down"/>, then restarted.</summary>
public sealed record Fault(int Number, TimeSpan At, FaultKind Kind, int Target, TimeSpan Down)
{
    public string TargetName => Kind switch
    {
        FaultKind.KillSilo => $"silo{Target + 1}",
        FaultKind.KillGateway => $"gateway{Target + 1}",
        _ => "postgresql",
    };

    public string Action => Kind switch
    {
        FaultKind.StopPostgres => "pg_ctl stop -m immediate",
        _ => "kill -9",
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Number,-2} t={At.TotalSeconds,5:0.0}s  {Action,-24} {TargetName,-10} down {Down.TotalSeconds:0.0}s, then restart");
}

/// <summary>
/// The faults of a run, drawn from <c>System.Random(seed)</c> alone, so a seed names a schedule. Rules: at most one silo
/// down at a time (never all of them), at most one gateway down at a time (clients always have one), PostgreSQL down at
/// most once at a time; the intervals are the planned ones, the executor also waits for a restarted node to be ready.
/// </summary>
public static class FaultSchedule
{
    public static List<Fault> Plan(int seed, TimeSpan load, int faults, int silos, int gateways)
    {
        var random = new Random(seed);
        var (first, last) = (3.0, Math.Max(4.0, load.TotalSeconds - 6));
        var times = Enumerable.Range(0, faults).Select(_ => first + random.NextDouble() * (last - first)).Order().ToList();
        var planned = new List<Fault>();
        foreach (var at in times)
        {
            // Weights: silos 45 %, gateways 35 %, PostgreSQL 20 %; a kind whose rule the time breaks gives way to the next.
            var roll = random.NextDouble();
            FaultKind[] order = roll < 0.45 ? [FaultKind.KillSilo, FaultKind.KillGateway, FaultKind.StopPostgres]
                : roll < 0.80 ? [FaultKind.KillGateway, FaultKind.KillSilo, FaultKind.StopPostgres]
                : [FaultKind.StopPostgres, FaultKind.KillSilo, FaultKind.KillGateway];
            var down = TimeSpan.FromSeconds(1 + random.NextDouble() * 3);
            var target = random.Next(1000);
            var start = TimeSpan.FromSeconds(at);
            foreach (var kind in order)
            {
                var count = kind switch { FaultKind.KillSilo => silos, FaultKind.KillGateway => gateways, _ => 1 };
                // A restarted silo or gateway takes a few seconds to be ready: keep 8 s between faults of the same kind.
                var busy = planned.Any(f => f.Kind == kind && start < f.At + f.Down + TimeSpan.FromSeconds(8) && f.At < start + down + TimeSpan.FromSeconds(8));
                if (busy || count == 0 || (kind == FaultKind.KillSilo && silos < 2)) continue;
                planned.Add(new Fault(planned.Count + 1, start, kind, target % count, down));
                break;
            }
        }
        return planned;
    }
}
