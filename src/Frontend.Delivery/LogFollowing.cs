using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>
/// The gateway's <c>Logs --follow</c> streams: one <see cref="LogTail"/> per database followed here, shared by its
/// followers, and at most <see cref="GatewayOptions.MaxLogFollowers"/> followers in all.
/// </summary>
public sealed class LogFollowing(IGrainFactory grains, IOptions<GatewayOptions> options, ILoggerFactory loggers)
{
    public const string FollowersLimit = "log_followers";

    private readonly ILogger _logger = loggers.CreateLogger<LogFollowing>();
    private readonly Dictionary<string, (LogTail Tail, int Followers)> _tails = [];
    private int _followers;

    public int Followers
    {
        get { lock (_tails) return _followers; }
    }

    /// <summary>Starts following <paramref name="database"/>'s records after <paramref name="last"/>; dispose the lease to stop.</summary>
    /// <exception cref="RpcException">RESOURCE_EXHAUSTED: the gateway has as many followers as it allows.</exception>
    public (LogFollower Follower, IDisposable Lease) Follow(string database, ModuleLogLevel minimum, long last)
    {
        var limits = options.Value;
        var follower = new LogFollower(minimum, last, limits.SendQueueCapacity);
        lock (_tails)
        {
            if (_followers >= limits.MaxLogFollowers)
            {
                ChatMetrics.Refused(FollowersLimit);
                _logger.LogFollowerRefused(database, _followers);
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"This gateway is following {_followers} logs, its limit. Read the log without follow, or try again later."));
            }
            var (tail, count) = _tails.TryGetValue(database, out var found)
                ? found
                : (new LogTail(database, grains, limits.FeedRenewInterval, loggers.CreateLogger<LogTail>()), 0);
            _tails[database] = (tail, count + 1);
            _followers++;
            tail.Join(follower);
            return (follower, new Lease(this, database, tail, follower));
        }
    }

    private void Leave(string database, LogTail tail, LogFollower follower)
    {
        lock (_tails)
        {
            _followers--;
            tail.Leave(follower);
            var (_, count) = _tails[database];
            // Under the lock, as joins are: a tail without followers is gone before anyone could join it.
            if (count > 1)
                _tails[database] = (tail, count - 1);
            else
            {
                _tails.Remove(database);
                tail.Stop();
            }
        }
    }

    private sealed class Lease(LogFollowing owner, string database, LogTail tail, LogFollower follower) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) owner.Leave(database, tail, follower);
        }
    }
}
