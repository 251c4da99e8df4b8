using System.Runtime.InteropServices;
using Chat.Cli;

// The first Ctrl+C (or SIGTERM) stops long-running commands cleanly; a second one ends the process at once.
using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (interrupted.IsCancellationRequested) return;
    e.Cancel = true;
    interrupted.Cancel();
};
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
{
    signal.Cancel = true;
    interrupted.Cancel();
});

return await CliProgram.RunAsync(args, Console.In, Console.Out, Console.Error, ConfigStore.DefaultDirectory(), new CliRunOptions
{
    Color = !Console.IsOutputRedirected,
    ErrorColor = !Console.IsErrorRedirected,
    Interactive = !Console.IsInputRedirected,
    Cancellation = interrupted.Token,
    Terminal = !Console.IsInputRedirected && !Console.IsOutputRedirected,
});
