using System.Diagnostics.CodeAnalysis;
using Grpc.Net.Client;
using Microsoft.Playwright;
using V1 = Chat.Api.V1;

namespace Chat.Tests.Browser;

/// <summary>
/// The real stack in a process of its own, serving the web client on its HTTP port, and Debian's Chromium driven by
/// Playwright (never a downloaded browser). Each test publishes its own database and opens its own browser contexts.
/// </summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix",
    Justification = "A running chat stack with a browser on it, not a Stack<T> collection.")]
public sealed class BrowserStack : IAsyncLifetime
{
    /// <summary>Debian's chromium, as .ci/run installs it.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>The machine has no network beyond loopback: Chromium's own background traffic would only fail.</summary>
    public static readonly string[] ChromiumArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    private IPlaywright _playwright = null!;
    private GrpcChannel _channel = null!;
    private int _databases;

    public string ConnectionString { get; private set; } = "";
    public StackProcess Stack { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public V1.Chat.ChatClient Chat { get; private set; } = null!;
    public string OwnerToken { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does.");
        // Page conditions on a loaded machine: generous bounds that only stop a hang.
        Assertions.SetDefaultExpectTimeout(30_000);
        ConnectionString = await TestPostgres.CreateDatabaseAsync();
        Stack = StackProcess.Start(ConnectionString, clusterId: "browser", serviceId: "browser");
        await Stack.WaitUntilReadyAsync();
        Connect();
        OwnerToken = (await Chat.CreateIdentityAsync(new V1.CreateIdentityRequest())).Token;
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath, Headless = true, Args = ChromiumArgs,
        });
    }

    private void Connect()
    {
        _channel = GrpcChannel.ForAddress(Stack.GrpcAddress);
        Chat = new V1.Chat.ChatClient(_channel);
    }

    /// <summary>Stops the stack as Ctrl+C does and starts it again on the same ports and data, as a person restarting it would.</summary>
    public async Task RestartAsync()
    {
        var ports = (Stack.GrpcPort, Stack.HttpPort);
        await Stack.StopAsync();
        Stack.Dispose();
        _channel.Dispose();
        Stack = StackProcess.Start(ConnectionString, clusterId: "browser", serviceId: "browser", ports: ports);
        await Stack.WaitUntilReadyAsync();
        Connect();
    }

    public async Task<string> NewDatabaseAsync(string prefix, V1.DatabaseSettings? settings = null)
    {
        var name = $"{prefix}-{Interlocked.Increment(ref _databases)}";
        await new V1.Databases.DatabasesClient(_channel).PublishAsync(new V1.PublishRequest { Database = name, Settings = settings }, TestGateway.Bearer(OwnerToken));
        return name;
    }

    public Task SendAsync(string database, string text) =>
        Chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = text }, TestGateway.Bearer(OwnerToken)).ResponseAsync;

    /// <summary>A new browser profile (its own localStorage, so its own identity) at phone or desktop width.</summary>
    public Task<IBrowserContext> NewPersonAsync(bool phone = false) =>
        Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = phone ? new ViewportSize { Width = 390, Height = 800 } : new ViewportSize { Width = 1100, Height = 700 },
        });

    /// <summary>Opens the chat of <paramref name="database"/> and waits until it is live.</summary>
    public async Task<IPage> OpenChatAsync(IBrowserContext person, string database)
    {
        var page = await person.NewPageAsync();
        await page.GotoAsync($"{Stack.HttpAddress}/db/{database}");
        await ChatPage.ExpectConnected(page, database);
        return page;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        _channel?.Dispose();
        Stack?.Dispose();
    }
}

/// <summary>What the tests look for on the chat page, by its labels and roles where it has them.</summary>
public static class ChatPage
{
    public static Task ExpectConnected(IPage page, string database) =>
        Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync($"Connected to {database}");

    public static ILocator Composer(IPage page) => page.GetByLabel("Message", new() { Exact = true });

    public static ILocator NameInput(IPage page) => page.GetByLabel("Your name", new() { Exact = true });

    public static ILocator Online(IPage page) => page.Locator("#online li");

    public static ILocator Messages(IPage page) => page.Locator("#messages .message");

    public static ILocator Notices(IPage page) => page.Locator("#messages .notice");

    public static async Task SetNameAsync(IPage page, string name)
    {
        await NameInput(page).FillAsync(name);
        await NameInput(page).PressAsync("Enter");
    }

    public static async Task SendAsync(IPage page, string text)
    {
        await Composer(page).FillAsync(text);
        await Composer(page).PressAsync("Enter");
    }
}
