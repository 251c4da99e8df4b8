using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Chat.Tests.Deploy;

/// <summary>
/// The Kubernetes manifests (deploy/) rendered by <c>kubectl kustomize</c> for each overlay, checked
/// against the code they deploy: routes the probes hit are mapped, ports the app listens on are the
/// declared ones, every env var is one the app reads, Services reach pods, shutdown and rollouts keep
/// the cluster whole, and nothing asks for Kubernetes API access.
/// </summary>
public sealed class ManifestTests
{
    private const string SiloDeployment = "chat-silo";
    private const string GatewayDeployment = "chat-gateway";
    private const string DashboardService = "chat-dashboard";
    private const string GatewayService = "chat-gateway";

    public static TheoryData<string> Overlays => new() { "local", "production" };

    public static TheoryData<string> Dockerfiles
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var file in Directory.GetFiles(Path.Combine(Repo.Root, "deploy", "docker"), "*.Dockerfile").Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(file));
            return data;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Images

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_publishes_its_entry_assembly_from_a_cached_restore_into_a_non_root_runtime_image(string dockerfile)
    {
        var name = dockerfile[..^".Dockerfile".Length];
        var app = AppProcess.ForImage("chat-" + name) ?? throw new Xunit.Sdk.XunitException($"no process for {dockerfile}");
        var lines = app.DockerfileText.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var problems = new List<string>();

        var froms = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase)).ToList();
        if (froms.Count < 2 || !froms[0].l.Contains("mcr.microsoft.com/dotnet/sdk:10.0", StringComparison.Ordinal))
            problems.Add("the first stage must build FROM mcr.microsoft.com/dotnet/sdk:10.0, followed by a runtime stage");
        var final = froms.Count > 0 ? froms[^1] : ("", 0);
        if (!final.Item1.Contains("mcr.microsoft.com/dotnet/aspnet:10.0", StringComparison.Ordinal))
            problems.Add($"the final stage must be FROM mcr.microsoft.com/dotnet/aspnet:10.0 (no SDK at run time), not `{final.Item1}`");
        var finalStage = lines.Skip(final.Item2).ToList();
        if (finalStage.Any(l => l.Contains("dotnet/sdk", StringComparison.Ordinal)))
            problems.Add("the final stage copies from or mentions the SDK image");

        var user = finalStage.LastOrDefault(l => l.StartsWith("USER ", StringComparison.OrdinalIgnoreCase))?[5..].Trim();
        if (user is null || user is "root" or "0" || user.StartsWith("0:", StringComparison.Ordinal))
            problems.Add($"the final stage must switch to a non-root USER (the aspnet image's app user, $APP_UID), found `{user ?? "none"}`");

        var entrypoint = finalStage.LastOrDefault(l => l.StartsWith("ENTRYPOINT ", StringComparison.OrdinalIgnoreCase));
        var expected = new[] { "dotnet", app.AssemblyName + ".dll" };
        var actual = entrypoint is null ? null : JsonSerializer.Deserialize<string[]>(entrypoint["ENTRYPOINT ".Length..]);
        if (actual is null || !actual.SequenceEqual(expected))
            problems.Add($"ENTRYPOINT must be {JsonSerializer.Serialize(expected)} ({app.EntryProject} builds {app.AssemblyName}.dll), found `{entrypoint}`");

        // Restore layer caching: every project of the closure and the root build files are copied, and restored, before the sources.
        var restore = lines.FindIndex(l => l.Contains("dotnet restore", StringComparison.Ordinal));
        var sources = lines.FindIndex(l => Regex.IsMatch(l, @"^COPY\s+src/?\s"));
        if (restore < 0 || sources < 0 || restore > sources)
            problems.Add("`RUN dotnet restore` must come before `COPY src/ src/`, so that the package layer is cached");
        var copiedBeforeRestore = lines.Take(restore < 0 ? 0 : restore).Where(l => l.StartsWith("COPY ", StringComparison.OrdinalIgnoreCase))
            .SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).SkipLast(1)).ToHashSet(StringComparer.Ordinal);
        foreach (var project in app.Projects)
            if (!copiedBeforeRestore.Contains(project))
                problems.Add($"{project} (referenced by {app.EntryProject}) is not copied before the restore: the restore would miss its packages");
        foreach (var buildFile in Directory.GetFiles(Repo.Root, "Directory.*.props").Append(Path.Combine(Repo.Root, "global.json")).Where(File.Exists))
            if (!copiedBeforeRestore.Contains(Path.GetFileName(buildFile)))
                problems.Add($"{Path.GetFileName(buildFile)} is not copied before the restore");

        // The build context is the repository root; BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile.
        var ignore = Path.Combine(Repo.Root, "deploy", "docker", dockerfile + ".dockerignore");
        if (!File.Exists(ignore))
            problems.Add($"deploy/docker/{dockerfile}.dockerignore is missing (the host's bin/ and obj/ would overwrite the image's restore)");
        else
        {
            var patterns = File.ReadAllLines(ignore).Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
            foreach (var required in new[] { "**/bin/", "**/obj/", ".data/" })
                if (!patterns.Contains(required))
                    problems.Add($"{dockerfile}.dockerignore does not exclude {required}");
        }

        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_image_of_ours_is_built_here_and_pinned(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        Assert.NotNull(rendered.Find("Namespace", "chat"));
        foreach (var obj in rendered.Objects.Where(o => o.Kind is not ("Namespace" or "ClusterRole" or "ClusterRoleBinding")))
            if (obj.Namespace != "chat")
                problems.Add($"{obj} is in namespace `{obj.Namespace}`, not chat");
        foreach (var name in new[] { SiloDeployment, GatewayDeployment })
        {
            var workload = rendered.Workload("Deployment", name);
            var container = Assert.Single(workload.Containers);
            if (AppProcess.ForImage(container.ImageName) is null)
                problems.Add($"{container} runs {container.Image}, which no Dockerfile in deploy/docker builds");
            if (!container.Image.Contains(':', StringComparison.Ordinal) || container.Image.EndsWith(":latest", StringComparison.Ordinal))
                problems.Add($"{container} image {container.Image} has no fixed tag");
        }
        Assert.Equal("chat-silo", rendered.Workload("Deployment", SiloDeployment).Containers[0].ImageName);
        Assert.Equal("chat-gateway", rendered.Workload("Deployment", GatewayDeployment).Containers[0].ImageName);
        Report(problems);
    }

    // ---------------------------------------------------------------------------------------------
    // The app's contract: routes, ports, configuration

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Probes_hit_routes_the_app_maps_on_its_http_port(string overlay)
    {
        var problems = new List<string>();
        foreach (var (container, app) in OurContainers(overlay))
        {
            var http = container.Port("http");
            if (http is null)
            {
                problems.Add($"{container} has no container port named http");
                continue;
            }
            var url = container.EnvValue("Kestrel__Endpoints__Http__Url");
            if (url is null)
                problems.Add($"{container} does not set Kestrel__Endpoints__Http__Url (appsettings.json binds loopback)");
            else if (new Uri(url).Port != http.Number)
                problems.Add($"{container}: Kestrel__Endpoints__Http__Url {url} is not the container port http ({http.Number})");

            foreach (var kind in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
                if (container.Node.At(kind) is null)
                    problems.Add($"{container} has no {kind}");
            foreach (var (kind, probe) in container.Probes)
            {
                var get = probe.At("httpGet");
                if (get is null)
                {
                    problems.Add($"{container} {kind} is not an HTTP GET on the http port");
                    continue;
                }
                var path = get.At("path").Str() ?? "/";
                var port = container.Port(get.At("port").Str() ?? "");
                if (port is null || port.Number != http.Number)
                    problems.Add($"{container} {kind} port {get.At("port").Str()} is not the container port http ({http.Number})");
                if (!app.MapsPath(path))
                    problems.Add($"{container} {kind} GETs {path}, which no MapGet/MapHealthChecks in {string.Join(", ", app.Projects)} maps");
            }
            if (container.Node.At("readinessProbe", "httpGet", "path").Str() is { } ready &&
                container.Node.At("livenessProbe", "httpGet", "path").Str() == ready)
                problems.Add($"{container}: liveness and readiness probe the same path {ready} (a PostgreSQL outage would restart every pod)");

            var annotations = container.Owner.PodAnnotations;
            if (annotations.TryGetValue("prometheus.io/path", out var metrics))
            {
                if (!app.MapsPath(metrics))
                    problems.Add($"{container}: prometheus.io/path {metrics} is not mapped by {app}");
                if (annotations.GetValueOrDefault("prometheus.io/port") != http.Number.ToString(CultureInfo.InvariantCulture))
                    problems.Add($"{container}: prometheus.io/port is not the http port {http.Number}");
            }
        }
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Ports_the_app_listens_on_are_exactly_the_declared_container_ports(string overlay)
    {
        var problems = new List<string>();
        foreach (var (container, app) in OurContainers(overlay))
        {
            // Where the process listens: its Kestrel endpoints (env over appsettings.json) that are not
            // loopback-only, and the ports given by Chat__*Port env vars (the Orleans silo and gateway ports).
            var listening = new List<(string Setting, string PortName, int Port)>();
            var endpoints = app.SettingKeys.Concat(container.Env.Select(e => e.Name.Replace("__", ":", StringComparison.Ordinal)))
                .Select(k => Regex.Match(k, @"^Kestrel:Endpoints:([^:]+):Url$", RegexOptions.IgnoreCase))
                .Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct(StringComparer.OrdinalIgnoreCase);
            foreach (var endpoint in endpoints)
            {
                var url = new Uri(app.Setting(container, $"Kestrel:Endpoints:{endpoint}:Url")!);
                if (url.IsLoopback)
                    continue;
                listening.Add(($"Kestrel__Endpoints__{endpoint}__Url", endpoint.ToLowerInvariant(), url.Port));
            }
            foreach (var env in container.Env)
            {
                var port = Regex.Match(env.Name, @"^Chat__(\w+)Port$");
                if (port.Success)
                    listening.Add((env.Name, port.Groups[1].Value.ToLowerInvariant(), int.Parse(env.Value ?? "0", CultureInfo.InvariantCulture)));
            }

            foreach (var (setting, portName, number) in listening)
            {
                var declared = container.Port(portName);
                if (declared is null || declared.Number != number)
                    problems.Add($"{container}: {setting} listens on {number}, but the container port named {portName} is {declared?.Number.ToString(CultureInfo.InvariantCulture) ?? "missing"}");
            }
            foreach (var port in container.Ports)
                if (!listening.Any(l => l.Port == port.Number))
                    problems.Add($"{container} declares port {port.Name} {port.Number}, on which the app is not told to listen");
        }
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_env_var_a_pod_sets_is_one_the_app_reads(string overlay)
    {
        var problems = new List<string>();
        foreach (var (container, app) in OurContainers(overlay))
        {
            if (container.Node.At("envFrom") is not null)
                problems.Add($"{container} uses envFrom: name every variable, so that each can be checked against the code");
            foreach (var env in container.Env)
                if (!app.ReadsEnvironmentVariable(env.Name))
                    problems.Add(env.Name.Contains("__", StringComparison.Ordinal)
                        ? $"{container} sets {env.Name}, but {env.Name.Replace("__", ":", StringComparison.Ordinal)} is neither in {string.Join(", ", app.SettingFiles)} nor read by the sources of {string.Join(", ", app.Projects)}"
                        : $"{container} sets {env.Name}, but no source of {string.Join(", ", app.Projects)} contains \"{env.Name}\"");
        }
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Silos_and_gateways_join_the_same_cluster_and_the_silos_do_not_host_the_gateway(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var silo = rendered.Workload("Deployment", SiloDeployment).Containers.Single();
        var gateway = rendered.Workload("Deployment", GatewayDeployment).Containers.Single();
        foreach (var id in new[] { "ORLEANS_CLUSTER_ID", "ORLEANS_SERVICE_ID" })
        {
            var value = silo.EnvValue(id);
            Assert.False(string.IsNullOrEmpty(value), $"{silo} has no value for {id}");
            Assert.Equal(value, gateway.EnvValue(id));
        }
        Assert.Equal("false", silo.EnvValue("Chat__Gateway__Enabled"));
        Assert.DoesNotContain(silo.Env, e => e.Name == "Chat__Auth__SigningKey");
        Assert.Contains(gateway.Env, e => e.Name == "Chat__Auth__SigningKey" && e.ValueFrom.At("secretKeyRef") is not null);
        foreach (var container in new[] { silo, gateway })
        {
            var connection = container.Env.SingleOrDefault(e => e.Name == "ConnectionStrings__Chat");
            Assert.True(connection?.ValueFrom.At("secretKeyRef") is not null, $"{container}: ConnectionStrings__Chat must come from a Secret");
        }
        var downward = new Dictionary<string, string> { ["POD_NAME"] = "metadata.name", ["POD_IP"] = "status.podIP", ["POD_NAMESPACE"] = "metadata.namespace" };
        foreach (var (name, field) in downward)
            Assert.Equal(field, silo.Env.SingleOrDefault(e => e.Name == name)?.ValueFrom.At("fieldRef", "fieldPath").Str());
    }

    // ---------------------------------------------------------------------------------------------
    // Wiring: selectors, Services, references

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Selectors_match_pods_and_services_reach_declared_ports(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        foreach (var workload in rendered.Workloads)
        {
            var selector = workload.SelectorLabels;
            if (selector.Count == 0)
                problems.Add($"{workload} has no selector.matchLabels");
            foreach (var (key, value) in selector)
                if (workload.PodLabels.GetValueOrDefault(key) != value)
                    problems.Add($"{workload}: selector {key}={value} is not a label of its pod template");
            var others = rendered.Workloads.Where(w => w != workload && selector.All(kv => w.PodLabels.GetValueOrDefault(kv.Key) == kv.Value));
            foreach (var other in others)
                problems.Add($"{workload}: its selector also matches the pods of {other}");
            if (workload.Object.Kind == "StatefulSet")
            {
                var serviceName = workload.Object.Node.At("spec", "serviceName").Str();
                var service = serviceName is null ? null : rendered.Find("Service", serviceName);
                if (service is null || service.Node.At("spec", "clusterIP").Str() != "None")
                    problems.Add($"{workload}: serviceName {serviceName} is not a headless Service of the output");
            }
        }

        foreach (var service in rendered.OfKind("Service"))
        {
            var selected = rendered.Selected(service.Node.At("spec", "selector").StringMap()).ToList();
            if (selected.Count != 1)
            {
                problems.Add($"{service} selects {selected.Count} workloads ({string.Join(", ", selected)}), not exactly one");
                continue;
            }
            foreach (var port in service.Node.At("spec", "ports").Items())
            {
                var target = port.At("targetPort").Str() ?? port.At("port").Str() ?? "";
                var containers = selected[0].Containers.Where(c => c.Port(target) is not null).ToList();
                if (containers.Count == 0)
                {
                    problems.Add($"{service} port {port.At("name").Str()} targets {target}, which no container of {selected[0]} declares");
                    continue;
                }
                if (port.At("appProtocol").Str() == "kubernetes.io/h2c")
                    foreach (var container in containers)
                    {
                        var app = AppProcess.ForImage(container.ImageName);
                        var number = container.Port(target)!.Number;
                        var endpoint = app?.SettingKeys.Concat(container.Env.Select(e => e.Name.Replace("__", ":", StringComparison.Ordinal)))
                            .Select(k => Regex.Match(k, @"^Kestrel:Endpoints:([^:]+):Url$", RegexOptions.IgnoreCase)).Where(m => m.Success)
                            .Select(m => m.Groups[1].Value)
                            .FirstOrDefault(e => new Uri(app.Setting(container, $"Kestrel:Endpoints:{e}:Url")!) is { IsLoopback: false } u && u.Port == number);
                        var protocols = endpoint is null ? null : app!.Setting(container, $"Kestrel:Endpoints:{endpoint}:Protocols");
                        if (protocols != "Http2")
                            problems.Add($"{service} port {target} is h2c, but {container} serves port {number} with protocols {protocols ?? "unknown"}, not Http2");
                    }
            }
        }

        foreach (var pdb in rendered.OfKind("PodDisruptionBudget"))
            if (!rendered.Selected(pdb.Node.At("spec", "selector", "matchLabels").StringMap()).Any())
                problems.Add($"{pdb} selects no pods");

        var gatewayService = rendered.Find("Service", GatewayService);
        if (gatewayService is null)
            problems.Add($"no Service {GatewayService}");
        else
        {
            var grpc = gatewayService.Node.At("spec", "ports").Items().FirstOrDefault(p => p.At("port").Str() == "50051");
            if (grpc is null || grpc.At("appProtocol").Str() != "kubernetes.io/h2c")
                problems.Add($"{gatewayService} must expose 50051 with appProtocol kubernetes.io/h2c");
            var selected = rendered.Selected(gatewayService.Node.At("spec", "selector").StringMap()).ToList();
            if (selected.Count != 1 || selected[0].Object.Name != GatewayDeployment)
                problems.Add($"{gatewayService} does not select the pods of Deployment/{GatewayDeployment}");
        }
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Secret_and_config_references_resolve(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        var generatedSecrets = rendered.OfKind("Secret").ToList();
        foreach (var workload in rendered.Workloads)
            foreach (var container in workload.Containers)
                foreach (var env in container.Env.Where(e => e.ValueFrom is not null))
                {
                    if (env.ValueFrom.At("configMapKeyRef") is { } cm &&
                        rendered.Data("ConfigMap", cm.At("name").Str() ?? "", cm.At("key").Str() ?? "") is null)
                        problems.Add($"{container} {env.Name}: ConfigMap {cm.At("name").Str()} key {cm.At("key").Str()} is not in the output");
                    if (env.ValueFrom.At("secretKeyRef") is { } secret)
                    {
                        var name = secret.At("name").Str() ?? "";
                        var key = secret.At("key").Str() ?? "";
                        if (generatedSecrets.Count > 0 && rendered.Data("Secret", name, key) is null)
                            problems.Add($"{container} {env.Name}: Secret {name} key {key} is not in the output");
                        if (generatedSecrets.Count == 0 && name is not ("chat-secrets" or "chat-postgres"))
                            problems.Add($"{container} {env.Name}: refers to Secret {name}, not one of the operator's documented chat-secrets / chat-postgres");
                    }
                }
        Report(problems);
    }

    // ---------------------------------------------------------------------------------------------
    // Operations: RBAC, shutdown, rollouts, disruption, scaling, exposure

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Nothing_gets_Kubernetes_API_access(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var rbac = rendered.Objects.Where(o => o.Kind is "Role" or "ClusterRole" or "RoleBinding" or "ClusterRoleBinding").ToList();
        Assert.True(rbac.Count == 0, $"membership is the ADO.NET table in PostgreSQL; no RBAC is needed, found {string.Join(", ", rbac)}");

        var problems = new List<string>();
        foreach (var workload in rendered.Workloads)
        {
            var podSetting = workload.PodSpec.At("automountServiceAccountToken").Str();
            var accountName = workload.PodSpec.At("serviceAccountName").Str();
            var account = accountName is null ? null : rendered.Find("ServiceAccount", accountName);
            if (accountName is not null && account is null)
                problems.Add($"{workload}: ServiceAccount {accountName} is not in the output");
            var accountSetting = account?.Node.At("automountServiceAccountToken").Str();
            if (podSetting == "true" || (podSetting is null && accountSetting != "false"))
                problems.Add($"{workload} mounts a service account token");
        }
        var silo = rendered.Workload("Deployment", SiloDeployment);
        var siloAccount = silo.PodSpec.At("serviceAccountName").Str();
        Assert.NotNull(siloAccount);
        Assert.Equal("false", rendered.Find("ServiceAccount", siloAccount)?.Node.At("automountServiceAccountToken").Str());
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Pods_get_longer_to_stop_than_the_app_takes_and_rollouts_never_drop_below_desired(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        foreach (var (container, _) in OurContainers(overlay))
        {
            var workload = container.Owner;
            var timeout = container.EnvValue("Chat__ShutdownTimeout");
            var grace = int.Parse(workload.PodSpec.At("terminationGracePeriodSeconds").Str() ?? "30", CultureInfo.InvariantCulture);
            if (timeout is null)
                problems.Add($"{container} does not set Chat__ShutdownTimeout");
            else if (TimeSpan.Parse(timeout, CultureInfo.InvariantCulture).TotalSeconds >= grace)
                problems.Add($"{workload}: terminationGracePeriodSeconds {grace} is not longer than Chat__ShutdownTimeout {timeout}");

            if (workload.Object.Kind == "Deployment")
            {
                var strategy = workload.Object.Node.At("spec", "strategy");
                if ((strategy.At("type").Str() ?? "RollingUpdate") != "RollingUpdate" ||
                    strategy.At("rollingUpdate", "maxUnavailable").Str() is not ("0" or "0%") ||
                    strategy.At("rollingUpdate", "maxSurge").Str() is null or "0" or "0%")
                    problems.Add($"{workload}: a rolling update must surge and keep maxUnavailable 0");
            }
        }

        var silo = rendered.Workload("Deployment", SiloDeployment);
        if (silo.Replicas < 2)
            problems.Add($"{silo} runs {silo.Replicas} silo(s), fewer than 2");
        var pdbs = rendered.OfKind("PodDisruptionBudget")
            .Where(p => rendered.Selected(p.Node.At("spec", "selector", "matchLabels").StringMap()).Contains(silo)).ToList();
        if (pdbs.Count != 1)
            problems.Add($"{pdbs.Count} PodDisruptionBudgets select the silos, not one");
        foreach (var pdb in pdbs)
        {
            var min = pdb.Node.At("spec", "minAvailable").Str();
            var max = pdb.Node.At("spec", "maxUnavailable").Str();
            var ok = (min is not null && int.TryParse(min, out var m) && m >= 1 && m < silo.Replicas) ||
                     (max is not null && int.TryParse(max, out var x) && x >= 1 && x < silo.Replicas);
            if (!ok)
                problems.Add($"{pdb}: minAvailable {min} / maxUnavailable {max} must keep a silo up and still let one go (replicas {silo.Replicas})");
        }
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_gateway_autoscales_on_cpu(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var hpa = Assert.Single(rendered.OfKind("HorizontalPodAutoscaler"));
        Assert.Equal("autoscaling/v2", hpa.ApiVersion);
        var target = hpa.Node.At("spec", "scaleTargetRef");
        Assert.Equal("Deployment", target.At("kind").Str());
        Assert.Equal("apps/v1", target.At("apiVersion").Str());
        Assert.Equal(GatewayDeployment, target.At("name").Str());
        rendered.Workload("Deployment", GatewayDeployment);
        var min = int.Parse(hpa.Node.At("spec", "minReplicas").Str() ?? "1", CultureInfo.InvariantCulture);
        var max = int.Parse(hpa.Node.At("spec", "maxReplicas").Str() ?? "0", CultureInfo.InvariantCulture);
        Assert.True(min >= 2 && max > min, $"{hpa}: minReplicas {min}, maxReplicas {max}");
        var cpu = hpa.Node.At("spec", "metrics").Items().SingleOrDefault(m => m.At("resource", "name").Str() == "cpu");
        Assert.Equal("Utilization", cpu.At("resource", "target", "type").Str());
        Assert.Equal("70", cpu.At("resource", "target", "averageUtilization").Str());
        // Utilization is relative to the request: without one the autoscaler cannot compute it.
        var gateway = rendered.Workload("Deployment", GatewayDeployment).Containers.Single();
        Assert.NotNull(gateway.Node.At("resources", "requests", "cpu").Str());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_dashboard_is_served_by_the_silos_and_reachable_only_inside_the_cluster(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var dashboard = rendered.Find("Service", DashboardService);
        Assert.NotNull(dashboard);
        Assert.Equal("ClusterIP", dashboard.Node.At("spec", "type").Str() ?? "ClusterIP");
        Assert.Null(dashboard.Node.At("spec", "externalIPs"));
        var selected = Assert.Single(rendered.Selected(dashboard.Node.At("spec", "selector").StringMap()));
        Assert.Equal(SiloDeployment, selected.Object.Name);
        var silo = selected.Containers.Single();
        var app = AppProcess.ForImage(silo.ImageName)!;
        Assert.True(app.MapsPath("/dashboard"), $"{app} does not map /dashboard");
        Assert.True(app.ReadsEnvironmentVariable("Chat__Dashboard__Enabled"), $"{app} does not read Chat:Dashboard:Enabled");
        Assert.Contains(silo.Env, e => e.Name == "Chat__Dashboard__Enabled");

        var problems = new List<string>();
        foreach (var service in rendered.OfKind("Service"))
        {
            var type = service.Node.At("spec", "type").Str() ?? "ClusterIP";
            if (type != "ClusterIP" && rendered.Selected(service.Node.At("spec", "selector").StringMap()).Contains(selected))
                problems.Add($"{service} ({type}) exposes the silos outside the cluster");
        }
        foreach (var ingress in rendered.Objects.Where(o => o.Kind is "Ingress" or "HTTPRoute" or "GRPCRoute" or "IngressRoute"))
            if (Descendants(ingress.Node).OfType<YamlScalarNode>().Any(s => s.Value == DashboardService))
                problems.Add($"{ingress} routes to {DashboardService}");
        Report(problems);
    }

    // ---------------------------------------------------------------------------------------------
    // Trust: the cluster certificate and who reaches whom

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Silos_and_gateways_present_the_cluster_certificate_from_one_secret(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        var secrets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in new[] { SiloDeployment, GatewayDeployment })
        {
            var workload = rendered.Workload("Deployment", name);
            var container = workload.Containers.Single();
            foreach (var setting in new[] { "Chat__Cluster__Certificate", "Chat__Cluster__CertificateKey" })
            {
                var path = container.EnvValue(setting);
                if (path is null)
                {
                    problems.Add($"{container} does not set {setting}: it would refuse to start (no cluster certificate)");
                    continue;
                }
                var mount = container.Node.At("volumeMounts").Items()
                    .FirstOrDefault(m => path.StartsWith((m.At("mountPath").Str() ?? "\0").TrimEnd('/') + "/", StringComparison.Ordinal));
                if (mount is null)
                {
                    problems.Add($"{container} {setting}={path} is under no volume mount");
                    continue;
                }
                if (mount.At("readOnly").Str() != "true")
                    problems.Add($"{container} mounts {mount.At("mountPath").Str()} writable");
                var volume = workload.PodSpec.At("volumes").Items().FirstOrDefault(v => v.At("name").Str() == mount.At("name").Str());
                var secret = volume.At("secret", "secretName").Str();
                if (secret is null)
                {
                    problems.Add($"{container} {setting}: the volume {mount.At("name").Str()} is not a Secret");
                    continue;
                }
                secrets.Add(secret);
                var file = path[((mount.At("mountPath").Str() ?? "").TrimEnd('/').Length + 1)..];
                if (rendered.OfKind("Secret").Any() ? rendered.Data("Secret", secret, file) is null : secret != "chat-cluster-tls")
                    problems.Add($"{container} {setting}: the Secret {secret} has no key {file} in this overlay (production: the operator's chat-cluster-tls)");
                var mode = volume.At("secret", "defaultMode").Str();
                if (mode is null || (Convert.ToInt32(mode, mode.StartsWith('0') ? 8 : 10) & 0b111) != 0)
                    problems.Add($"{container}: the certificate's files are readable by others (defaultMode {mode ?? "0644"})");
            }
        }
        if (secrets.Count != 1)
            problems.Add($"silos and gateways must present one cluster certificate, found Secrets {string.Join(", ", secrets)}");
        Report(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Only_silos_and_gateways_reach_the_silo_ports_and_postgres_and_anyone_reaches_the_gateway_api(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        var problems = new List<string>();
        if (!rendered.OfKind("NetworkPolicy").Any(p => p.Node.At("spec", "podSelector").StringMap().Count == 0
                && p.Node.At("spec", "policyTypes").Items().Any(t => t.Str() == "Ingress") && !p.Node.At("spec", "ingress").Items().Any()))
            problems.Add("no default-deny ingress NetworkPolicy for the namespace: a pod no policy selects takes connections from anyone");

        var silo = rendered.Workload("Deployment", SiloDeployment);
        var gateway = rendered.Workload("Deployment", GatewayDeployment);
        var postgres = rendered.Workload("StatefulSet", "chat-postgres");
        var members = new[] { SiloDeployment, GatewayDeployment };
        foreach (var (workload, port) in new[] { (silo, "silo"), (silo, "gateway"), (postgres, "postgres") })
        {
            var number = workload.Containers.Single().Port(port)!.Number;
            var sources = Sources(rendered, workload, number);
            if (sources is null)
                problems.Add($"{workload} port {number} ({port}) is open to anyone");
            else
            {
                foreach (var source in sources.Except(members))
                    problems.Add($"{workload} port {number} ({port}) is open to {source}");
                foreach (var member in members.Except(sources))
                    problems.Add($"{workload} port {number} ({port}) is closed to {member}, which needs it");
            }
        }
        var grpc = gateway.Containers.Single().Port("grpc")!.Number;
        if (Sources(rendered, gateway, grpc) is not null)
            problems.Add($"{gateway} port {grpc} (the public gRPC API) is not open to everyone");
        Report(problems);
    }

    /// <summary>
    /// Who may connect to <paramref name="port"/> of a workload's pods under the overlay's NetworkPolicies: null for anyone
    /// (no policy selects the pods, or a rule has no <c>from</c>), else the workloads of the namespace a rule's pod
    /// selectors pick, plus <c>outside</c> for a namespace selector or an address block.
    /// </summary>
    private static HashSet<string>? Sources(Rendered rendered, Workload target, int port)
    {
        var policies = rendered.OfKind("NetworkPolicy")
            .Where(p => p.Node.At("spec", "podSelector", "matchLabels").StringMap().All(l => target.PodLabels.GetValueOrDefault(l.Key) == l.Value))
            .Where(p => p.Node.At("spec", "policyTypes").Items().Any(t => t.Str() == "Ingress") || p.Node.At("spec", "ingress") is not null)
            .ToList();
        if (policies.Count == 0)
            return null;
        var sources = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in policies.SelectMany(p => p.Node.At("spec", "ingress").Items()))
        {
            var ports = rule.At("ports").Items();
            if (ports.Count > 0 && !ports.Any(p => p.At("port").Str() is { } value &&
                    (value == port.ToString(CultureInfo.InvariantCulture) || target.Containers.Any(c => c.Port(value)?.Number == port))))
                continue;
            var peers = rule.At("from").Items();
            if (peers.Count == 0)
                return null;
            foreach (var peer in peers)
            {
                if (peer.At("namespaceSelector") is not null || peer.At("ipBlock") is not null)
                    sources.Add("outside");
                else if (peer.At("podSelector") is { } selector)
                    foreach (var workload in rendered.Selected(selector.At("matchLabels").StringMap()))
                        sources.Add(workload.Object.Name);
            }
        }
        return sources;
    }

    // ---------------------------------------------------------------------------------------------
    // The overlays themselves

    [Fact]
    public void Local_overlay_runs_locally_built_images_against_its_own_dev_postgres()
    {
        var rendered = Rendered.Of("local");
        foreach (var name in new[] { SiloDeployment, GatewayDeployment })
        {
            var container = rendered.Workload("Deployment", name).Containers.Single();
            Assert.Equal($"{name}:local", container.Image);
            Assert.Equal("IfNotPresent", container.Node.At("imagePullPolicy").Str());
        }
        var silo = rendered.Workload("Deployment", SiloDeployment).Containers.Single();
        var gateway = rendered.Workload("Deployment", GatewayDeployment).Containers.Single();
        Assert.Equal("true", silo.EnvValue("Chat__Dashboard__Enabled"));

        var connection = new NpgsqlConnectionStringBuilder(silo.EnvValue("ConnectionStrings__Chat"));
        Assert.Equal(connection.ConnectionString, new NpgsqlConnectionStringBuilder(gateway.EnvValue("ConnectionStrings__Chat")).ConnectionString);
        var postgresService = rendered.Find("Service", connection.Host!);
        Assert.True(postgresService is not null, $"the connection string's host {connection.Host} is not a Service of the overlay");
        Assert.Contains(postgresService.Node.At("spec", "ports").Items(), p => p.At("port").Str() == connection.Port.ToString(CultureInfo.InvariantCulture));
        var postgres = Assert.Single(rendered.Selected(postgresService.Node.At("spec", "selector").StringMap())).Containers.Single();
        Assert.StartsWith("postgres:15", postgres.Image, StringComparison.Ordinal);
        Assert.Equal(connection.Password, postgres.EnvValue("POSTGRES_PASSWORD"));
        Assert.Equal(connection.Database, postgres.EnvValue("POSTGRES_DB"));
        Assert.Equal(connection.Username, postgres.EnvValue("POSTGRES_USER") ?? "postgres");
        Assert.Contains("pg_isready", postgres.Node.At("readinessProbe", "exec", "command").Items().Select(i => i.Str()));
        Assert.NotEmpty(postgres.Owner.Object.Node.At("spec", "volumeClaimTemplates").Items());

        var key = Convert.FromBase64String(gateway.EnvValue("Chat__Auth__SigningKey") ?? "");
        Assert.True(key.Length >= 32, $"the dev signing key is {key.Length} bytes, fewer than 32");
        var kustomization = File.ReadAllText(Path.Combine(Repo.Root, "deploy", "overlays", "local", "kustomization.yaml"));
        Assert.Contains("DEV-ONLY", kustomization, StringComparison.Ordinal);
    }

    [Fact]
    public void Production_overlay_takes_its_secrets_from_the_operator_and_runs_three_silos()
    {
        var rendered = Rendered.Of("production");
        Assert.Empty(rendered.OfKind("Secret"));
        var silo = rendered.Workload("Deployment", SiloDeployment);
        Assert.True(silo.Replicas >= 3, $"{silo} runs {silo.Replicas} silos");
        foreach (var name in new[] { SiloDeployment, GatewayDeployment })
        {
            var container = rendered.Workload("Deployment", name).Containers.Single();
            Assert.Contains('/', container.Image);
            Assert.NotNull(container.Node.At("resources", "limits", "memory").Str());
            foreach (var secret in container.Env.Select(e => e.ValueFrom.At("secretKeyRef", "name").Str()).OfType<string>())
                Assert.Equal("chat-secrets", secret);
        }
        var local = Rendered.Of("local").Workload("Deployment", SiloDeployment).Containers.Single();
        var production = silo.Containers.Single();
        Assert.True(Memory(production) > Memory(local), "production silos should get more memory than local ones");
        Assert.Contains(production.Env, e => e.Name == "Chat__Dashboard__Enabled");
    }

    // ---------------------------------------------------------------------------------------------

    private static IEnumerable<(Container Container, AppProcess App)> OurContainers(string overlay)
    {
        var rendered = Rendered.Of(overlay);
        foreach (var workload in rendered.Workloads)
            foreach (var container in workload.Containers)
                if (AppProcess.ForImage(container.ImageName) is { } app)
                    yield return (container, app);
    }

    private static long Memory(Container container)
    {
        var text = container.Node.At("resources", "limits", "memory").Str() ?? "0";
        var match = Regex.Match(text, @"^(\d+)(Ki|Mi|Gi)?$");
        var unit = match.Groups[2].Value switch { "Ki" => 1L << 10, "Mi" => 1L << 20, "Gi" => 1L << 30, _ => 1L };
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * unit;
    }

    private static IEnumerable<YamlNode> Descendants(YamlNode node) => node switch
    {
        YamlMappingNode map => map.Children.SelectMany(kv => Descendants(kv.Key).Concat(Descendants(kv.Value))).Prepend(node),
        YamlSequenceNode seq => seq.Children.SelectMany(Descendants).Prepend(node),
        _ => [node],
    };

    private static void Report(List<string> problems)
    {
        if (problems.Count > 0)
            Assert.Fail($"{problems.Count} problem(s):{Environment.NewLine}- " + string.Join(Environment.NewLine + "- ", problems));
    }
}
