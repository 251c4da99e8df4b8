using System.Net.Sockets;
using System.Text;
using Grpc.Core;

namespace Chat.Cli;

/// <summary>
/// <c>chat sql &lt;database&gt;</c> without a query: a prompt at a terminal, or each statement read from a pipe. A
/// statement ends at a <c>;</c> outside quotes and may span lines; a failed one is reported and the next one runs.
/// </summary>
internal static class SqlPrompt
{
    /// <summary>Statements kept for \s and !N: a bound on what one session holds.</summary>
    private const int HistoryLimit = 500;

    /// <summary>Text of one statement still being typed: a bound on what an unterminated paste can hold.</summary>
    private const int StatementLimit = 64 * 1024;

    public static async Task<int> RunAsync(CliContext context, string database, bool json)
    {
        var interactive = context.Interactive;
        if (interactive)
            context.Err.WriteLine($"SQL on {database} as your identity: end a statement with ; (it may span lines). \\s history, !N again, \\q quit.");
        var history = new List<string>();
        var pending = new StringBuilder();
        var (ran, failed) = (0, 0);
        while (true)
        {
            if (interactive)
            {
                context.Err.Write(pending.Length == 0 ? $"{database}> " : new string(' ', database.Length) + "> ");
                context.Err.Flush();
            }
            var line = await context.In.ReadLineAsync(context.Cancellation);
            if (line is null) break;
            if (pending.Length == 0)
            {
                var command = line.Trim();
                if (command is "\\q" or "quit" or "exit") break;
                if (command.Length == 0) continue;
                if (command == "\\s")
                {
                    for (var i = 0; i < history.Count; i++) context.Out.WriteLine($"{i + 1,4}  {history[i]}");
                    continue;
                }
                if (command.StartsWith('!'))
                {
                    if (!int.TryParse(command[1..], out var number) || number < 1 || number > history.Count)
                    {
                        context.Err.WriteLine($"error: !N runs statement N of this session (1 to {history.Count}; see \\s)");
                        continue;
                    }
                    line = history[number - 1] + ";";
                }
                else if (command.StartsWith('\\'))
                {
                    context.Err.WriteLine($"error: unknown command {command}; \\s shows the history, !N runs statement N again, \\q quits");
                    continue;
                }
            }
            pending.Append(pending.Length == 0 ? "" : "\n").Append(line);
            if (pending.Length > StatementLimit)
            {
                context.Err.WriteLine($"error: a statement may be at most {StatementLimit} characters; this one was dropped (did it miss its ;?)");
                pending.Clear();
                continue;
            }
            var (statements, rest) = Split(pending.ToString());
            pending.Clear().Append(rest);
            foreach (var statement in statements)
            {
                if (history.Count == HistoryLimit) history.RemoveAt(0);
                history.Add(statement);
                ran++;
                if (!await RunOneAsync(context, database, statement, json)) failed++;
            }
        }
        // From a pipe, a last statement may end without its ;.
        if (pending.ToString().Trim() is { Length: > 0 } last)
        {
            ran++;
            if (!await RunOneAsync(context, database, last, json)) failed++;
        }
        if (interactive) return ExitCodes.Ok;
        if (ran == 0) throw new UsageException("usage: chat sql <database> <query> (see: chat sql --help)");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <returns>Whether the statement ran; a refusal is printed, and the session goes on.</returns>
    private static async Task<bool> RunOneAsync(CliContext context, string database, string statement, bool json)
    {
        try
        {
            await DatabaseCommands.QueryAsync(context, database, statement, json, indented: false);
            return true;
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !context.Cancellation.IsCancellationRequested)
        {
            context.Err.WriteLine(CliProgram.Unreachable(e) is { } reason
                ? $"error: cannot reach the chat gateway at {context.Server}: {reason}"
                : CliProgram.ErrorLine(e, haveContext: true));
            return false;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException)
        {
            context.Err.WriteLine($"error: {e.Message}");
            return false;
        }
    }

    /// <summary>The complete statements in some text (each without its ;), and what follows the last ;.</summary>
    internal static (List<string> Statements, string Remainder) Split(string text)
    {
        var statements = new List<string>();
        var start = 0;
        char? quote = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is { } open)
            {
                if (c == open) quote = null; // a doubled quote closes and reopens: the same result
                continue;
            }
            if (c is '\'' or '"') quote = c;
            else if (c == ';')
            {
                var statement = text[start..i].Trim();
                if (statement.Length > 0) statements.Add(statement);
                start = i + 1;
            }
        }
        return (statements, text[start..].TrimStart());
    }
}
