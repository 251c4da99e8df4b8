using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Grains;

/// <summary>The <c>Chat:Users</c> section.</summary>
public sealed class UserExpiryOptions
{
    /// <summary>
    /// How long a user that never set a name, is offline and has sent no message is kept after it was last seen (its last
    /// connect or disconnect). Zero keeps them forever, as the seed does.
    /// </summary>
    public TimeSpan AnonymousRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often each silo looks for such users.</summary>
    public TimeSpan ExpiryInterval { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Runs on every silo: deletes the users an anonymous Connect made and nobody came back for (never named, offline, no
/// message, not seen for <see cref="UserExpiryOptions.AnonymousRetention"/>), in bounded batches, so that a flood of
/// anonymous Connects cannot grow a database without bound. Each deletion goes to the database's change feed, so
/// subscribers see the row deleted. Several silos doing it at once is harmless (locked rows are skipped).
/// </summary>
public sealed class UserExpiry(UserStore store, IGrainFactory grains, IOptions<UserExpiryOptions> options, ILogger<UserExpiry> logger) : PeriodicSiloJob(logger)
{
    private const int Batch = 1000;

    protected override TimeSpan Interval => options.Value.ExpiryInterval;
    protected override string Purpose => "expire anonymous users";
    protected override bool Enabled => options.Value.AnonymousRetention > TimeSpan.Zero;
    protected override Task RunOnceAsync(CancellationToken stoppingToken) => ExpireAsync(options.Value.AnonymousRetention, stoppingToken);

    /// <summary>One pass: deletes every expired user, a batch at a time, and tells the change feeds. Returns how many.</summary>
    public async Task<int> ExpireAsync(TimeSpan retention, CancellationToken cancellationToken = default)
    {
        var total = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var deleted = await store.ExpireUsersAsync(retention, Batch);
            total += deleted.Count;
            if (deleted.Count > 0) ChatMetrics.UsersExpired(deleted.Count);
            var now = ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
            foreach (var database in deleted.GroupBy(d => (d.DatabaseId, d.Database)))
            {
                var events = database.Select(d => new ChangeEvent("(expired)", new ReducerCaller(default), now,
                    new UserRow(d.Identity, Name: null, Online: false), null, d.Version, null)).ToList();
                try
                {
                    await grains.GetChangeFeedGrain(database.Key.Database).Publish(database.Key.DatabaseId, events);
                }
                catch (Exception e)
                {
                    // Deleted all the same; subscribers' gateways find the rows gone when they resynchronise.
                    logger.ExpiryNotPublished(events.Count, database.Key.Database, e.GetBaseException().Message);
                }
                logger.ExpiredUsers(events.Count, database.Key.Database, retention);
            }
            if (deleted.Count < Batch) break;
        }
        return total;
    }
}
