using Chat.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// Brings stored uniqueness keys (<c>chat."user".name_key</c>) to the current <see cref="NameKeys.Version"/> when a silo
/// starts: the rules are C#, so a migration cannot. Safe on several silos at once (each update checks the old key).
/// </summary>
/// <remarks>
/// Two names that were distinct under the old rules may look alike under the new ones. Both stay (nobody loses a
/// name they hold); the later one gets its key made unique with its identity, so the first still blocks newcomers.
/// </remarks>
public sealed class NameKeyUpgrade(UserStore store, ILogger<NameKeyUpgrade> logger) : BackgroundService
{
    private const int Batch = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var (updated, clashes) = await RunAsync();
                if (updated > 0)
                    logger.RecomputedNameKeys(updated, NameKeys.Version, clashes);
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.NameKeysNotRecomputed(e.GetBaseException().Message, delay);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(1).Ticks));
            }
        }
    }

    /// <summary>One full pass; returns how many keys it replaced and how many of those clashed with another user's.</summary>
    public async Task<(int Updated, int Clashes)> RunAsync()
    {
        var (updated, clashes) = (0, 0);
        while (true)
        {
            var rows = await store.ReadOutdatedNameKeysAsync(NameKeys.Version, Batch);
            if (rows.Count == 0) return (updated, clashes);
            foreach (var (databaseId, identity, name, oldKey) in rows)
            {
                var key = NameKeys.Key(name);
                if (!await store.ReplaceNameKeyAsync(databaseId, identity, name, oldKey, key))
                {
                    clashes++;
                    await store.ReplaceNameKeyAsync(databaseId, identity, name, oldKey, $"{key}#{Convert.ToHexStringLower(identity)}");
                }
                updated++;
            }
        }
    }
}
