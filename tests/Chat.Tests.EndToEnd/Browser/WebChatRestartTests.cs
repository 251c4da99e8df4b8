using static Microsoft.Playwright.Assertions;

namespace Chat.Tests.Browser;

/// <summary>The stack restarts under two open pages: both reconnect by themselves and show what was said meanwhile, once.</summary>
public class WebChatRestartTests(BrowserStack browser) : IClassFixture<BrowserStack>
{
    [Fact]
    public async Task After_a_restart_both_pages_reconnect_and_show_the_messages_sent_meanwhile_exactly_once()
    {
        var db = await browser.NewDatabaseAsync("restart");
        await using var first = await browser.NewPersonAsync();
        await using var second = await browser.NewPersonAsync(phone: true);
        var alice = await browser.OpenChatAsync(first, db);
        var bob = await browser.OpenChatAsync(second, db);
        await ChatPage.SetNameAsync(alice, "Alice");
        await ChatPage.SendAsync(alice, "before the restart");
        foreach (var page in new[] { alice, bob })
            await Expect(ChatPage.Messages(page).Locator(".text")).ToHaveTextAsync(["before the restart"]);

        await browser.RestartAsync();
        // Sent as soon as the stack is back, whether or not the pages have reconnected yet.
        await browser.SendAsync(db, "while the pages were away 1");
        await browser.SendAsync(db, "while the pages were away 2");
        foreach (var page in new[] { alice, bob })
            await ChatPage.ExpectConnected(page, db);
        await ChatPage.SendAsync(bob, "after the restart");

        string[] all = ["before the restart", "while the pages were away 1", "while the pages were away 2", "after the restart"];
        foreach (var page in new[] { alice, bob })
        {
            // Everything up to the last message, in order, each once: the count would show a duplicate delivered before it.
            await Expect(ChatPage.Messages(page).Locator(".text")).ToHaveTextAsync(all);
            await Expect(ChatPage.Messages(page).Locator(".name").First).ToHaveTextAsync("Alice");
        }
    }
}
