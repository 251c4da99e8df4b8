namespace Chat.Grains;

/// <summary>
/// The group-commit loop of a reentrant grain: items added while a group is being committed wait and
/// go out together in the next one, so one transaction serves many callers. Runs on the grain's own
/// scheduler; the commit function answers each item's caller itself.
/// </summary>
internal sealed class GroupCommitLoop<T>(Func<List<T>, Task> commitGroup)
{
    private List<T> _queue = [];
    private Task _running = Task.CompletedTask;
    private bool _active;

    public int Waiting => _queue.Count;

    public void Add(T item)
    {
        _queue.Add(item);
        if (_active) return;
        _active = true;
        _running = Run();
    }

    /// <summary>Completes when everything added so far has been committed (or failed): what deactivation waits for.</summary>
    public Task Drained => _running;

    private async Task Run()
    {
        try
        {
            // Let calls already waiting in the activation's inbox join the first group.
            await Task.Yield();
            while (_queue.Count > 0)
            {
                var group = _queue;
                _queue = [];
                await commitGroup(group);
            }
        }
        finally
        {
            _active = false;
        }
    }
}
