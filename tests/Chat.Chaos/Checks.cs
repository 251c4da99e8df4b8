using StoredRow = Chat.Chaos.ChaosRun.StoredRow;

namespace Chat.Chaos;

/// <summary>What the clients saw against what PostgreSQL holds, as a table; every line that fails is explained below it.</summary>
public sealed class Checks(List<string> databases, List<StoredRow> rows, List<Sender> senders, List<Subscriber> subscribers, List<string> online)
{
    private const int ShownPerCheck = 8;

    public int Print(TextWriter output)
    {
        var results = new List<(string Check, string Definition, List<string> Violations, string Counted)>();
        var byDatabase = databases.ToDictionary(d => d, d => rows.Where(r => r.Database == d).ToList());
        var acks = senders.SelectMany(s => s.Acks).ToList();

        // (a) acknowledged => stored once, at the acknowledged offset
        var a = new List<string>();
        foreach (var ack in acks)
        {
            var stored = byDatabase[ack.Database].Where(r => r.Text == ack.Key).Select(r => r.Offset).ToList();
            if (stored.Count != 1 || stored[0] != (long)ack.Offset)
                a.Add($"{ack.Key}: acknowledged at offset {ack.Offset}{(ack.Replayed ? " (replayed)" : "")} via {ack.Via} after {ack.Attempts} attempt(s); stored at [{string.Join(", ", stored)}]");
        }
        results.Add(("(a) acknowledged calls", "every call a client saw succeed is stored exactly once, at the offset it was acknowledged with",
            a, $"{acks.Count} acknowledged ({acks.Count(x => x.Replayed)} replayed)"));

        // (b) one row per idempotency key (= logical message); no row nobody sent
        var b = new List<string>();
        var known = senders.Select(s => s.Name).ToHashSet();
        foreach (var (database, stored) in byDatabase)
            foreach (var group in stored.GroupBy(r => r.Text))
            {
                if (group.Count() > 1) b.Add($"{group.Key}: stored {group.Count()} times, at offsets [{string.Join(", ", group.Select(r => r.Offset))}]");
                if (!group.Key.StartsWith(database + "-", StringComparison.Ordinal) || !known.Contains(group.Key.Split('-')[^2]))
                    b.Add($"{database} offset {group.First().Offset}: a message no sender of this database sent: \"{group.Key}\"");
            }
        var logical = senders.Sum(s => s.Acks.Count + s.GaveUp.Count + s.Refused.Count);
        results.Add(("(b) idempotency keys", "no idempotency key (logical message) is stored twice; every stored row was sent by this run's senders",
            b, $"{rows.Count} rows, {rows.Select(r => (r.Database, r.Text)).Distinct().Count()} distinct keys, {logical} logical messages sent"));

        // (c) offsets gap-free 1..N, sent strictly increasing with offset
        var c = new List<string>();
        foreach (var (database, stored) in byDatabase)
        {
            for (var i = 0; i < stored.Count; i++)
            {
                if (stored[i].Offset != i + 1) { c.Add($"{database}: offset {stored[i].Offset} at position {i + 1} (gap or duplicate)"); break; }
                if (i > 0 && stored[i].Sent <= stored[i - 1].Sent)
                    c.Add($"{database}: offset {stored[i].Offset} sent {stored[i].Sent:O} is not after offset {stored[i - 1].Offset} sent {stored[i - 1].Sent:O}");
            }
        }
        results.Add(("(c) offsets and order", "per database, offsets are exactly 1..N and 'sent' strictly increases with the offset (commit order)",
            c, string.Join(", ", byDatabase.Select(p => $"{p.Key}: N={p.Value.Count}"))));

        // (d) subscriptions: snapshot + live updates without duplicate or gap, equal to the stored rows, the last one complete
        var d = new List<string>();
        var sessions = 0;
        foreach (var subscriber in subscribers)
        {
            var stored = byDatabase[subscriber.Database];
            foreach (var session in subscriber.Sessions)
            {
                sessions++;
                var name = $"{subscriber.Name} {subscriber.Database} session {session.Number}";
                List<Received> snapshot, live;
                bool complete;
                lock (session) (snapshot, live, complete) = (session.Snapshot.OrderBy(r => r.Offset).ToList(), session.Live.ToList(), session.SnapshotComplete);
                if (!complete)
                {
                    if (live.Count > 0) d.Add($"{name}: live updates before the snapshot's last chunk");
                    continue; // the stream broke before the snapshot was complete: nothing to hold it to
                }
                for (var i = 0; i < snapshot.Count; i++)
                    if (snapshot[i].Offset != (ulong)(i + 1)) { d.Add($"{name}: snapshot of {snapshot.Count} rows has offset {snapshot[i].Offset} at position {i + 1}"); break; }
                var expected = (ulong)snapshot.Count + 1;
                foreach (var update in live)
                {
                    if (update.Offset != expected)
                    {
                        d.Add($"{name}: live update offset {update.Offset} where {expected} was next ({(update.Offset < expected ? "duplicate" : "gap")}; snapshot had {snapshot.Count})");
                        break;
                    }
                    expected++;
                }
                foreach (var received in snapshot.Concat(live))
                {
                    var row = received.Offset >= 1 && received.Offset <= (ulong)stored.Count ? stored[(int)received.Offset - 1] : null;
                    if (row is null || row.Text != received.Text || !row.Sender.EndsWith(received.Sender, StringComparison.OrdinalIgnoreCase))
                    {
                        d.Add($"{name}: received offset {received.Offset} \"{received.Text}\" but PostgreSQL holds {(row is null ? "no such row" : $"\"{row.Text}\"")}");
                        break;
                    }
                }
                var last = (ulong)snapshot.Count + (ulong)live.Count;
                if (session == subscriber.Sessions[^1] && last != (ulong)stored.Count)
                    d.Add($"{name} (the last, open at the end): received up to offset {last}, the database has {stored.Count} ({session.EndedBecause})");
            }
            if (subscriber.Sessions.Count == 0) d.Add($"{subscriber.Name} {subscriber.Database}: never subscribed");
        }
        results.Add(("(d) subscriptions",
            "each session (one Subscribe on one stream, until it broke) got snapshot 1..K, then live K+1, K+2, ... with no duplicate, gap or reorder, " +
            "each row equal to the stored one; each subscriber's last session reached N",
            d, $"{subscribers.Count} subscribers, {sessions} sessions ({sessions - subscribers.Count} resubscriptions)"));

        // (e) presence
        results.Add(("(e) presence", "once every client closed (and the janitor's timeout passed), nobody is online in chat.users",
            online.Select(o => $"{o} is still online").ToList(), $"{online.Count} online"));

        // (f) liveness and errors
        var f = senders.SelectMany(s => s.GaveUp.Select(k => $"{k}: never acknowledged before the give-up deadline (everything was up)"))
            .Concat(senders.SelectMany(s => s.Refused.Select(r => $"refused: {r}"))).ToList();
        results.Add(("(f) liveness", "once everything was up again, every logical message was acknowledged; no call was refused with a non-retriable status",
            f, $"{senders.Sum(s => s.GaveUp.Count)} given up, {senders.Sum(s => s.Refused.Count)} refused"));

        output.WriteLine();
        var width = results.Max(r => r.Check.Length);
        output.WriteLine($"{"check".PadRight(width)} | result | violations | counted");
        output.WriteLine($"{new string('-', width)}-+--------+------------+--------");
        foreach (var (check, _, violations, counted) in results)
            output.WriteLine($"{check.PadRight(width)} | {(violations.Count == 0 ? "ok" : "FAIL"),-6} | {violations.Count,10} | {counted}");
        output.WriteLine();
        foreach (var (check, definition, _, _) in results) output.WriteLine($"{check}: {definition}");
        foreach (var (check, _, violations, _) in results.Where(r => r.Violations.Count > 0))
        {
            output.WriteLine();
            output.WriteLine($"{check}: {violations.Count} violation(s)");
            foreach (var v in violations.Take(ShownPerCheck)) output.WriteLine("  " + v);
            if (violations.Count > ShownPerCheck) output.WriteLine($"  ... and {violations.Count - ShownPerCheck} more");
        }
        return results.Sum(r => r.Violations.Count);
    }
}
