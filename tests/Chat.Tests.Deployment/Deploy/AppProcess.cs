using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Chat.Tests.Deploy;

/// <summary>
/// What one of our images runs, read from the repository rather than restated here: the image
/// <c>chat-NAME</c> is built by <c>deploy/docker/NAME.Dockerfile</c>, which publishes one project of src/;
/// the process is that project and every project it references, and its configuration is the
/// project's appsettings.json plus whatever the C# sources of those projects read.
/// </summary>
internal sealed partial class AppProcess
{
    private static readonly ConcurrentDictionary<string, AppProcess?> Cache = new();

    private AppProcess(string imageName, string dockerfile)
    {
        ImageName = imageName;
        DockerfilePath = dockerfile;
        DockerfileText = File.ReadAllText(Path.Combine(Repo.Root, dockerfile));

        var publish = PublishRegex().Match(DockerfileText);
        if (!publish.Success)
            throw new Xunit.Sdk.XunitException($"{dockerfile} has no `dotnet publish <project>` step");
        EntryProject = ResolveProject(publish.Groups[1].Value);
        Projects = Closure(EntryProject);

        var doc = XDocument.Load(Path.Combine(Repo.Root, EntryProject));
        AssemblyName = doc.Descendants("AssemblyName").LastOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(EntryProject);

        var sources = new List<(string, string)>();
        foreach (var project in Projects)
        {
            var dir = Path.GetDirectoryName(Path.Combine(Repo.Root, project))!;
            foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(dir, file).Replace('\\', '/');
                if (relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal) ||
                    relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal))
                    continue;
                sources.Add((Path.GetRelativePath(Repo.Root, file), File.ReadAllText(file)));
            }
        }
        Sources = sources;

        var entryDir = Path.GetDirectoryName(Path.Combine(Repo.Root, EntryProject))!;
        SettingFiles = Directory.EnumerateFiles(entryDir, "appsettings*.json")
            .Where(f => !Path.GetFileName(f).Contains(".Development.", StringComparison.OrdinalIgnoreCase))
            .Select(f => Path.GetRelativePath(Repo.Root, f))
            .ToList();
        SettingKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        SettingValues = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in SettingFiles)
        {
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, file)),
                new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            Flatten(json.RootElement, "");
        }
    }

    public string ImageName { get; }
    public string DockerfilePath { get; }
    public string DockerfileText { get; }
    /// <summary>The published project, relative to the repository root: <c>src/Silo/Silo.csproj</c>.</summary>
    public string EntryProject { get; }
    /// <summary>The published project and every project it references, directly or not.</summary>
    public IReadOnlyList<string> Projects { get; }
    public string AssemblyName { get; }
    public IReadOnlyList<(string Path, string Text)> Sources { get; }
    public IReadOnlyList<string> SettingFiles { get; }
    /// <summary>Every configuration key of the appsettings files, sections included: <c>Chat</c>, <c>Chat:Gateway</c>, <c>Chat:Gateway:Enabled</c>.</summary>
    public HashSet<string> SettingKeys { get; }
    public Dictionary<string, string> SettingValues { get; }

    public override string ToString() => $"{ImageName} ({EntryProject})";

    /// <summary>The process an image runs, or null for a third-party image (no Dockerfile of ours, such as postgres).</summary>
    public static AppProcess? ForImage(string imageName) => Cache.GetOrAdd(imageName, name =>
    {
        const string prefix = "chat-";
        var dockerfile = $"deploy/docker/{(name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name)}.Dockerfile";
        if (File.Exists(Path.Combine(Repo.Root, dockerfile)))
            return new AppProcess(name, dockerfile);
        if (name.StartsWith(prefix, StringComparison.Ordinal))
            throw new Xunit.Sdk.XunitException($"the image {name} is ours (chat-*) but {dockerfile} does not exist");
        return null;
    });

    /// <summary>
    /// Whether the process maps an HTTP route at <paramref name="path"/> (MapGet, MapHealthChecks, MapOrleansDashboard, ...):
    /// in the published project's own sources, or in an extension method of a referenced project
    /// (<c>MapChatGateway(this ...)</c>) that the published project calls.
    /// </summary>
    public bool MapsPath(string path)
    {
        var mapped = new Regex($@"\.(Map|Use)\w*\(\s*(\w+\s*:\s*)?""{Regex.Escape(path)}/?""");
        if (Sources.Any(s => mapped.Matches(s.Text).Any(m => ReachableFromEntry(s.Path, s.Text, m.Index))))
            return true;
        // OpenTelemetry's Prometheus exporter serves /metrics when given no path (its documented default).
        return path == "/metrics" && Sources.Any(s => PrometheusDefaultRegex().Matches(s.Text).Any(m => ReachableFromEntry(s.Path, s.Text, m.Index)));
    }

    private bool ReachableFromEntry(string file, string text, int index)
    {
        var entryDir = Path.GetDirectoryName(EntryProject)!.Replace('\\', '/') + "/";
        var entrySources = Sources.Where(s => s.Path.Replace('\\', '/').StartsWith(entryDir, StringComparison.Ordinal)).ToList();
        if (file.Replace('\\', '/').StartsWith(entryDir, StringComparison.Ordinal))
            return true;
        var method = ExtensionMethodRegex().Matches(text[..index]).LastOrDefault();
        if (method is null)
            return false;
        var call = new Regex($@"\.{Regex.Escape(method.Groups[1].Value)}\s*\(");
        return entrySources.Any(s => call.IsMatch(s.Text));
    }

    /// <summary>
    /// Whether the process reads the environment variable. <c>A__B</c> is the configuration key <c>A:B</c>:
    /// a key of appsettings.json, a string literal in the sources, <c>GetConnectionString("B")</c> for
    /// <c>ConnectionStrings:B</c>, or a section the sources bind (<c>GetSection("A")</c>) whose remaining
    /// segments are properties declared in the sources. A plain NAME must appear as "NAME" in the sources.
    /// </summary>
    public bool ReadsEnvironmentVariable(string name)
    {
        if (!name.Contains("__", StringComparison.Ordinal))
            return Sources.Any(s => s.Text.Contains($"\"{name}\"", StringComparison.Ordinal));

        var key = name.Replace("__", ":", StringComparison.Ordinal);
        if (SettingKeys.Contains(key))
            return true;
        if (Sources.Any(s => s.Text.Contains($"\"{key}\"", StringComparison.OrdinalIgnoreCase)))
            return true;
        var parts = key.Split(':');
        if (parts.Length == 2 && parts[0].Equals("ConnectionStrings", StringComparison.OrdinalIgnoreCase) &&
            Sources.Any(s => s.Text.Contains($"GetConnectionString(\"{parts[1]}\")", StringComparison.Ordinal)))
            return true;
        for (var i = 1; i < parts.Length; i++)
        {
            var section = string.Join(':', parts[..i]);
            var bound = new Regex($@"(GetSection|GetRequiredSection|BindConfiguration)\(\s*""{Regex.Escape(section)}""", RegexOptions.IgnoreCase);
            if (!Sources.Any(s => bound.IsMatch(s.Text)))
                continue;
            var properties = parts[i..].Select(p => new Regex($@"\b{Regex.Escape(p)}\s*\{{\s*get", RegexOptions.IgnoreCase));
            if (properties.All(p => Sources.Any(s => p.IsMatch(s.Text))))
                return true;
        }
        return false;
    }

    /// <summary>A setting's effective value for a container: its env var, else appsettings.json.</summary>
    public string? Setting(Container container, string key) =>
        container.EnvValue(key.Replace(":", "__", StringComparison.Ordinal)) ?? SettingValues.GetValueOrDefault(key);

    private void Flatten(JsonElement element, string prefix)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                    Flatten(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}");
                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                    Flatten(item, $"{prefix}:{index++}");
                break;
            default:
                SettingValues[prefix] = element.ToString();
                break;
        }
        if (prefix.Length > 0)
            SettingKeys.Add(prefix);
    }

    private static string ResolveProject(string path)
    {
        var full = Path.Combine(Repo.Root, path);
        if (File.Exists(full) && full.EndsWith(".csproj", StringComparison.Ordinal))
            return Path.GetRelativePath(Repo.Root, full).Replace('\\', '/');
        if (Directory.Exists(full))
        {
            var projects = Directory.GetFiles(full, "*.csproj");
            if (projects.Length == 1)
                return Path.GetRelativePath(Repo.Root, projects[0]).Replace('\\', '/');
        }
        throw new Xunit.Sdk.XunitException($"`dotnet publish {path}`: no single project at {full}");
    }

    private static List<string> Closure(string entry)
    {
        var seen = new List<string>();
        var pending = new Stack<string>([entry]);
        while (pending.TryPop(out var project))
        {
            if (seen.Contains(project))
                continue;
            seen.Add(project);
            var dir = Path.GetDirectoryName(project)!;
            foreach (var reference in XDocument.Load(Path.Combine(Repo.Root, project)).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")?.Value.Replace('\\', '/');
                if (include is null)
                    continue;
                var resolved = Path.GetRelativePath(Repo.Root, Path.GetFullPath(Path.Combine(Repo.Root, dir, include))).Replace('\\', '/');
                pending.Push(resolved);
            }
        }
        return seen;
    }

    [GeneratedRegex(@"dotnet\s+publish\s+(\S+)")]
    private static partial Regex PublishRegex();

    [GeneratedRegex(@"\bstatic\s+[\w<>\[\],.?]+\s+(\w+)\s*\(\s*this\b")]
    private static partial Regex ExtensionMethodRegex();

    [GeneratedRegex(@"(MapPrometheusScrapingEndpoint|UseOpenTelemetryPrometheusScrapingEndpoint)\(\s*\)")]
    private static partial Regex PrometheusDefaultRegex();
}
