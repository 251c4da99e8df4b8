namespace Chat.Tests.Deploy;

/// <summary>The repository's root folder (the one holding Chat.sln), found from the test binaries upwards.</summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Chat.sln")))
                return dir.FullName;
        }
        throw new Xunit.Sdk.XunitException($"Chat.sln not found in {AppContext.BaseDirectory} or any folder above it");
    });

    public static string Root => LazyRoot.Value;
}
