namespace Chat.Tests.Infrastructure;

/// <summary>
/// The cluster certificate of every cluster the tests start, in-process (<see cref="ChatCluster"/>) or as processes
/// (<see cref="StackProcess"/>): one file per test run, as one Secret is shared by a deployment's silos and gateways.
/// </summary>
public static class TestClusterCredentials
{
    private static readonly Lazy<(string File, ClusterCredentials Credentials)> Shared = new(() =>
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chat-tests-cluster-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var file = Path.Combine(folder, "cluster.pem");
        var credentials = ClusterCredentials.LoadOrCreate(file);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
        };
        return (file, credentials);
    });

    /// <summary>The PEM file (certificate and key) for <c>Chat__Cluster__Certificate</c>.</summary>
    public static string File => Shared.Value.File;

    public static ClusterCredentials Credentials => Shared.Value.Credentials;
}
