using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace Chat.Tests.Deploy;

/// <summary>One Kubernetes object of a rendered overlay.</summary>
internal sealed record K8sObject(string ApiVersion, string Kind, string Name, string? Namespace, YamlMappingNode Node)
{
    public override string ToString() => $"{Kind}/{Name}";
}

/// <summary>The output of <c>kubectl kustomize deploy/overlays/NAME</c>, parsed.</summary>
internal sealed class Rendered
{
    private static readonly ConcurrentDictionary<string, Lazy<Rendered>> Cache = new();

    private Rendered(string overlay, IReadOnlyList<K8sObject> objects)
    {
        Overlay = overlay;
        Objects = objects;
        Workloads = objects.Where(o => o.Kind is "Deployment" or "StatefulSet").Select(o => new Workload(this, o)).ToList();
    }

    public string Overlay { get; }
    public IReadOnlyList<K8sObject> Objects { get; }
    public IReadOnlyList<Workload> Workloads { get; }

    public IEnumerable<K8sObject> OfKind(string kind) => Objects.Where(o => o.Kind == kind);

    public K8sObject? Find(string kind, string name) => Objects.FirstOrDefault(o => o.Kind == kind && o.Name == name);

    public Workload Workload(string kind, string name) =>
        Workloads.SingleOrDefault(w => w.Object.Kind == kind && w.Object.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"overlay {Overlay}: no {kind}/{name} in the output of kubectl kustomize");

    /// <summary>The workloads whose pod template carries every label of <paramref name="selector"/>.</summary>
    public IEnumerable<Workload> Selected(IReadOnlyDictionary<string, string> selector) =>
        selector.Count == 0 ? [] : Workloads.Where(w => selector.All(kv => w.PodLabels.TryGetValue(kv.Key, out var v) && v == kv.Value));

    public static Rendered Of(string overlay) => Cache.GetOrAdd(overlay, o => new Lazy<Rendered>(() => Render(o))).Value;

    private static Rendered Render(string overlay)
    {
        var root = Repo.Root;
        var dir = Path.Combine("deploy", "overlays", overlay);
        if (!Directory.Exists(Path.Combine(root, dir)))
            throw new Xunit.Sdk.XunitException($"{dir} does not exist under {root}");
        var psi = new ProcessStartInfo("kubectl")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add("kustomize");
        psi.ArgumentList.Add(dir);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new Win32Exception("Process.Start returned null");
        }
        catch (Win32Exception e)
        {
            throw new Xunit.Sdk.XunitException(
                "kubectl is required by the deployment manifest tests (they render deploy/overlays/* with its built-in " +
                $"kustomize, v5 or later) and could not be started: {e.Message}. Install kubectl and put it on PATH.");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                process.Kill(entireProcessTree: true);
                throw new Xunit.Sdk.XunitException($"kubectl kustomize {dir} did not finish within 2 minutes");
            }
            if (process.ExitCode != 0)
                throw new Xunit.Sdk.XunitException($"kubectl kustomize {dir} failed ({process.ExitCode}): {stderr.Result}");
            return new Rendered(overlay, Parse(stdout));
        }
    }

    private static List<K8sObject> Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var objects = new List<K8sObject>();
        foreach (var document in stream.Documents)
        {
            if (document.RootNode is not YamlMappingNode node)
                continue;
            objects.Add(new K8sObject(
                node.At("apiVersion").Str() ?? "",
                node.At("kind").Str() ?? "",
                node.At("metadata", "name").Str() ?? "",
                node.At("metadata", "namespace").Str(),
                node));
        }
        return objects;
    }

    /// <summary>The value of a ConfigMap's or Secret's key (Secret data decoded), or null when there is no such object or key.</summary>
    public string? Data(string kind, string name, string key)
    {
        var obj = Find(kind, name);
        if (obj is null)
            return null;
        if (kind == "Secret")
        {
            var encoded = obj.Node.At("data", key).Str();
            if (encoded is not null)
                return Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        return obj.Node.At("data", key).Str() ?? obj.Node.At("stringData", key).Str();
    }
}

/// <summary>A Deployment or StatefulSet.</summary>
internal sealed class Workload(Rendered rendered, K8sObject obj)
{
    public K8sObject Object { get; } = obj;
    public Rendered Rendered { get; } = rendered;
    public YamlNode? PodSpec => Object.Node.At("spec", "template", "spec");
    public IReadOnlyDictionary<string, string> PodLabels => Object.Node.At("spec", "template", "metadata", "labels").StringMap();
    public IReadOnlyDictionary<string, string> PodAnnotations => Object.Node.At("spec", "template", "metadata", "annotations").StringMap();
    public IReadOnlyDictionary<string, string> SelectorLabels => Object.Node.At("spec", "selector", "matchLabels").StringMap();
    public int Replicas => int.TryParse(Object.Node.At("spec", "replicas").Str(), out var n) ? n : 1;
    public IReadOnlyList<Container> Containers => PodSpec.At("containers").Items().Select(c => new Container(this, c)).ToList();
    public override string ToString() => $"{Rendered.Overlay}: {Object}";
}

internal sealed record ContainerPort(string? Name, int Number);

internal sealed record EnvVar(string Name, string? Value, YamlNode? ValueFrom);

internal sealed class Container(Workload owner, YamlNode node)
{
    public Workload Owner { get; } = owner;
    public YamlNode Node { get; } = node;
    public string Name => Node.At("name").Str() ?? "";
    public string Image => Node.At("image").Str() ?? "";

    /// <summary>The image's repository name without registry, path, tag or digest: <c>chat-silo</c>.</summary>
    public string ImageName
    {
        get
        {
            var image = Image;
            var at = image.IndexOf('@');
            if (at >= 0) image = image[..at];
            var slash = image.LastIndexOf('/');
            if (slash >= 0) image = image[(slash + 1)..];
            var colon = image.IndexOf(':');
            return colon >= 0 ? image[..colon] : image;
        }
    }

    public IReadOnlyList<ContainerPort> Ports => Node.At("ports").Items()
        .Select(p => new ContainerPort(p.At("name").Str(), int.Parse(p.At("containerPort").Str() ?? "0", System.Globalization.CultureInfo.InvariantCulture)))
        .ToList();

    public IReadOnlyList<EnvVar> Env => Node.At("env").Items()
        .Select(e => new EnvVar(e.At("name").Str() ?? "", e.At("value").Str(), e.At("valueFrom")))
        .ToList();

    /// <summary>A port by name, or by number when <paramref name="port"/> is numeric.</summary>
    public ContainerPort? Port(string port) => int.TryParse(port, out var number)
        ? Ports.FirstOrDefault(p => p.Number == number)
        : Ports.FirstOrDefault(p => p.Name == port);

    /// <summary>An env var's value: a literal, or the ConfigMap/Secret key it refers to. Null for the downward API or a missing reference.</summary>
    public string? EnvValue(string name)
    {
        var env = Env.FirstOrDefault(e => e.Name == name);
        if (env is null)
            return null;
        if (env.Value is not null)
            return env.Value;
        if (env.ValueFrom.At("configMapKeyRef") is { } cm)
            return Owner.Rendered.Data("ConfigMap", cm.At("name").Str() ?? "", cm.At("key").Str() ?? "");
        if (env.ValueFrom.At("secretKeyRef") is { } secret)
            return Owner.Rendered.Data("Secret", secret.At("name").Str() ?? "", secret.At("key").Str() ?? "");
        return null;
    }

    private static readonly string[] ProbeKinds = ["startupProbe", "readinessProbe", "livenessProbe"];

    public IEnumerable<(string Kind, YamlNode Probe)> Probes =>
        ProbeKinds
            .Select(kind => (kind, Node.At(kind)))
            .Where(p => p.Item2 is not null)
            .Select(p => (p.kind, p.Item2!));

    public override string ToString() => $"{Owner} container {Name}";
}

internal static class YamlExtensions
{
    public static YamlNode? At(this YamlNode? node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map)
                return null;
            node = map.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode s && s.Value == key).Value;
        }
        return node;
    }

    public static string? Str(this YamlNode? node) => (node as YamlScalarNode)?.Value;

    public static IReadOnlyList<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode seq ? seq.Children.ToList() : [];

    public static IReadOnlyDictionary<string, string> StringMap(this YamlNode? node) => node is YamlMappingNode map
        ? map.Children.Where(kv => kv.Key is YamlScalarNode && kv.Value is YamlScalarNode)
            .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => ((YamlScalarNode)kv.Value).Value ?? "")
        : new Dictionary<string, string>();
}
