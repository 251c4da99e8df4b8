using Orleans.Concurrency;

namespace Chat;

/// <summary>
/// One identity in one database; the only writer of that user's row. Key: see <see cref="UserGrainKey"/>.
/// </summary>
public interface IUserGrain : IGrainWithStringKey
{
    Task<ReducerResult> SetName(ReducerCaller caller, string name);

    /// <summary>
    /// Lifecycle reducer, called by the gateway only when a connection opens. The connection is recorded
    /// against <paramref name="gatewayId"/>, so that it is ended for the gateway if the gateway dies.
    /// </summary>
    Task<ReducerResult> IdentityConnected(ReducerCaller caller, Guid gatewayId);

    /// <summary>Lifecycle reducer, called by the gateway only when a connection ends, however it ends.</summary>
    Task<ReducerResult> IdentityDisconnected(ReducerCaller caller);

    /// <summary>The user's row, or null when this identity has never connected to the database.</summary>
    [AlwaysInterleave]
    Task<UserRow?> Read();
}

public static class UserGrainKey
{
    public static string For(string database, Identity identity) => $"{database}/{identity}";

    public static (string Database, Identity Identity) Parse(string key)
    {
        var slash = key.LastIndexOf('/');
        return (key[..slash], Identity.Parse(key[(slash + 1)..]));
    }
}

public static class ChatGrainFactoryExtensions
{
    public static IUserGrain GetUserGrain(this IGrainFactory grains, string database, Identity identity) =>
        grains.GetGrain<IUserGrain>(UserGrainKey.For(database, identity));

    public static IMessageLogGrain GetMessageLogGrain(this IGrainFactory grains, string database) =>
        grains.GetGrain<IMessageLogGrain>(database);

    public static IChangeFeedGrain GetChangeFeedGrain(this IGrainFactory grains, string database) =>
        grains.GetGrain<IChangeFeedGrain>(database);

    public static IModuleLogGrain GetModuleLogGrain(this IGrainFactory grains, string database) =>
        grains.GetGrain<IModuleLogGrain>(database);

    public static IDatabaseGrain GetDatabaseGrain(this IGrainFactory grains, string database) =>
        grains.GetGrain<IDatabaseGrain>(database);
}
