using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Chat.Tests.Browser;

/// <summary>The web client the stack serves, in Chromium: people chatting, identity kept, errors shown, accessibility.</summary>
public class WebChatTests(BrowserStack browser) : IClassFixture<BrowserStack>
{
    [Fact]
    public async Task Two_people_chat_and_see_each_others_names_presence_and_notices()
    {
        var db = await browser.NewDatabaseAsync("pair");
        await using var aliceBrowser = await browser.NewPersonAsync();
        await using var bobBrowser = await browser.NewPersonAsync(phone: true);
        var alice = await browser.OpenChatAsync(aliceBrowser, db);
        await ChatPage.SetNameAsync(alice, "Alice");
        await Expect(ChatPage.Online(alice)).ToHaveTextAsync(["Alice (you)"]);

        var bob = await browser.OpenChatAsync(bobBrowser, db);
        await Expect(ChatPage.Online(bob)).ToContainTextAsync(["Alice"]);
        await ChatPage.SetNameAsync(bob, "Bob");
        await Expect(ChatPage.Online(alice)).ToHaveTextAsync(["Alice (you)", "Bob"]);
        await Expect(ChatPage.Online(bob)).ToHaveTextAsync(["Alice", "Bob (you)"]);
        await Expect(ChatPage.Notices(alice).Last).ToContainTextAsync("set their name to Bob");

        await ChatPage.SendAsync(alice, "Hello, Bob!");
        await Expect(ChatPage.Composer(alice)).ToHaveValueAsync("");
        var atBob = ChatPage.Messages(bob).Filter(new() { HasText = "Hello, Bob!" });
        await Expect(atBob.Locator(".name")).ToHaveTextAsync("Alice");
        await Expect(atBob.Locator("time")).ToHaveAttributeAsync("datetime", new System.Text.RegularExpressions.Regex("^\\d{4}-"));
        await ChatPage.SendAsync(bob, "Hi Alice");
        await Expect(ChatPage.Messages(alice).Last.Locator(".name")).ToHaveTextAsync("Bob");
        await Expect(ChatPage.Messages(alice).Last.Locator(".text")).ToHaveTextAsync("Hi Alice");

        await ChatPage.SetNameAsync(bob, "Robert");
        await Expect(ChatPage.Notices(alice).Last).ToHaveTextAsync("Bob is now known as Robert");
        await Expect(ChatPage.Messages(alice).Last.Locator(".name")).ToHaveTextAsync("Robert");
        await SaveScreenshotAsync(alice, "web-chat-desktop.png");
        await SaveScreenshotAsync(bob, "web-chat-phone.png");

        await bob.CloseAsync();
        await Expect(ChatPage.Notices(alice).Last).ToHaveTextAsync("Robert left");
        await Expect(ChatPage.Online(alice)).ToHaveTextAsync(["Alice (you)"]);
    }

    [Fact]
    public async Task A_reload_keeps_the_identity_and_the_history()
    {
        var db = await browser.NewDatabaseAsync("reload");
        await using var person = await browser.NewPersonAsync();
        var page = await browser.OpenChatAsync(person, db);
        await ChatPage.SetNameAsync(page, "Carol");
        await ChatPage.SendAsync(page, "before the reload");
        await Expect(ChatPage.Messages(page).Locator(".name")).ToHaveTextAsync(["Carol"]);
        var stored = await page.EvaluateAsync<string>("localStorage.getItem('chat.identity')");

        await page.ReloadAsync();
        await ChatPage.ExpectConnected(page, db);
        await Expect(ChatPage.Online(page)).ToHaveTextAsync(["Carol (you)"]);
        await Expect(ChatPage.Messages(page).Locator(".text")).ToHaveTextAsync(["before the reload"]);
        await Expect(ChatPage.NameInput(page)).ToHaveValueAsync("Carol");
        Assert.Equal(stored, await page.EvaluateAsync<string>("localStorage.getItem('chat.identity')"));
    }

    [Fact]
    public async Task A_refused_send_shows_the_reducers_error_and_keeps_the_text()
    {
        var db = await browser.NewDatabaseAsync("refused");
        await using var person = await browser.NewPersonAsync();
        var page = await browser.OpenChatAsync(person, db);
        await ChatPage.SendAsync(page, "");
        await Expect(page.Locator("#send-error")).ToHaveTextAsync("Messages must not be empty");
        await Expect(ChatPage.Messages(page)).ToHaveCountAsync(0);

        await ChatPage.NameInput(page).FillAsync("   ");
        await ChatPage.NameInput(page).PressAsync("Enter");
        await Expect(page.Locator("#name-error")).ToHaveTextAsync("Names must not be empty");

        await ChatPage.SendAsync(page, "now with text");
        await Expect(page.Locator("#send-error")).ToHaveTextAsync("");
        await Expect(ChatPage.Messages(page).Locator(".text")).ToHaveTextAsync(["now with text"]);
    }

    [Fact]
    public async Task The_list_opens_a_database_by_name_and_an_unknown_one_says_how_to_make_it()
    {
        var db = await browser.NewDatabaseAsync("listed");
        await using var person = await browser.NewPersonAsync();
        var page = await person.NewPageAsync();
        await page.GotoAsync(browser.Stack.HttpAddress + "/");
        await page.GetByRole(AriaRole.Link, new() { Name = db }).ClickAsync();
        await ChatPage.ExpectConnected(page, db);

        await page.GotoAsync(browser.Stack.HttpAddress + "/");
        var name = page.GetByLabel("Open a database by name");
        await name.FillAsync("no-such-db");
        await name.PressAsync("Enter");
        await Expect(page).ToHaveURLAsync(browser.Stack.HttpAddress + "/db/no-such-db");
        // The chat's own (empty) alert regions are on the page until the gateway's NOT_FOUND arrives and replaces them.
        await Expect(page.GetByRole(AriaRole.Alert).Filter(new() { HasText = "chat publish no-such-db" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task History_pages_back_to_the_first_message()
    {
        // More messages than one sender's burst: rate limits off for this database.
        var db = await browser.NewDatabaseAsync("history", new Chat.Api.V1.DatabaseSettings { MessagesPerSecond = 0 });
        for (var i = 1; i <= 120; i++) await browser.SendAsync(db, $"message {i}");
        await using var person = await browser.NewPersonAsync();
        var page = await browser.OpenChatAsync(person, db);
        await Expect(ChatPage.Messages(page)).ToHaveCountAsync(50);
        await Expect(ChatPage.Messages(page).First.Locator(".text")).ToHaveTextAsync("message 71");

        var older = page.GetByRole(AriaRole.Button, new() { Name = "Load older messages" });
        await older.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(ChatPage.Messages(page)).ToHaveCountAsync(100);
        await older.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(ChatPage.Messages(page)).ToHaveCountAsync(120);
        await Expect(ChatPage.Messages(page).First.Locator(".text")).ToHaveTextAsync("message 1");
        await Expect(older).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Axe_finds_no_serious_or_critical_violations_on_the_list_and_the_chat()
    {
        var db = await browser.NewDatabaseAsync("axe");
        await browser.SendAsync(db, "something to read");
        await using var person = await browser.NewPersonAsync();
        var page = await browser.OpenChatAsync(person, db);
        await Expect(ChatPage.Messages(page)).ToHaveCountAsync(1);
        await ChatPage.SendAsync(page, "");
        await Expect(page.Locator("#send-error")).Not.ToHaveTextAsync("");
        AssertNoSeriousViolations("the chat", await page.RunAxe());

        await page.GotoAsync(browser.Stack.HttpAddress + "/");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = db })).ToBeVisibleAsync();
        AssertNoSeriousViolations("the database list", await page.RunAxe());

        await using var phone = await browser.NewPersonAsync(phone: true);
        var small = await browser.OpenChatAsync(phone, db);
        AssertNoSeriousViolations("the chat at phone width", await small.RunAxe());
    }

    private static void AssertNoSeriousViolations(string what, AxeResult result)
    {
        var serious = result.Violations.Where(v => v.Impact is "serious" or "critical")
            .Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target))}").ToList();
        Assert.True(serious.Count == 0, $"axe on {what}:\n{string.Join('\n', serious)}");
        Assert.NotEmpty(result.Passes);
    }

    /// <summary>Into the test output, and into CHAT_SCREENSHOT_DIR when set (README's docs/screenshots come from there).</summary>
    private static async Task SaveScreenshotAsync(IPage page, string name)
    {
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, name) });
        if (Environment.GetEnvironmentVariable("CHAT_SCREENSHOT_DIR") is { Length: > 0 } directory)
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name) });
    }
}
