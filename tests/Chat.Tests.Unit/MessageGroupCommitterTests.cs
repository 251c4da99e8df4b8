using Chat.Grains;
using Chat.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Chat.Tests;

/// <summary>
/// The message log's commit ordering alone (<see cref="MessageGroupCommitter"/>): no Orleans, no PostgreSQL. A scripted
/// writer stands in for MessageStore (whose protocol ChainedGroupCommitTests checks on a real server), and the
/// committer runs on one thread at a time, as it does on a grain's scheduler.
/// </summary>
public class MessageGroupCommitterTests
{
    private static readonly Identity Alice = Identity.Random();
    private static readonly DatabaseDescriptor Database = new("quickstart", 7, Alice, DateTime.UtcNow, ModuleSettings.Default);

    [Fact]
    public Task Messages_sent_while_a_group_commits_go_out_together_next_with_offsets_in_the_order_they_came() => OnOneThread(async () =>
    {
        var (committer, writer, outcomes) = New();
        writer.HoldAppends();
        var first = committer.Add(Message("m1"));
        await writer.AppendStarted(1);
        var later = new[] { committer.Add(Message("m2")), committer.Add(Message("m3")), committer.Add(Message("m4")) };
        Assert.Equal(3, committer.Waiting);
        writer.ReleaseAppends();

        var answers = await Task.WhenAll([first, .. later]);
        Assert.All(answers, a => Assert.True(a.IsCommitted));
        Assert.Equal([1L, 2, 3, 4], answers.Select(a => a.Message!.Offset));
        Assert.Equal(["m1", "m2", "m3", "m4"], answers.Select(a => a.Message!.Text));
        Assert.Equal([[1L], [2L, 3, 4]], writer.Groups.Select(g => g.Select(r => r.Offset).ToArray()));
        Assert.True(answers.Zip(answers.Skip(1)).All(p => p.First.Message!.Sent < p.Second.Message!.Sent), "timestamps strictly increase");
        Assert.Equal([[1L], [2L, 3, 4]], outcomes.Committed.Select(g => g.Select(r => r.Offset).ToArray()));
    });

    [Fact]
    public Task A_caller_is_answered_only_after_its_group_committed() => OnOneThread(async () =>
    {
        var (committer, writer, _) = New();
        writer.HoldAppends();
        var answer = committer.Add(Message("hello"));
        await writer.AppendStarted(1);
        Assert.False(answer.IsCompleted);
        Assert.Empty(writer.Stored);

        writer.ReleaseAppends();
        var result = await answer;
        Assert.True(result.IsCommitted);
        Assert.Equal(writer.Stored.Single(), result.Message);
    });

    [Fact]
    public Task The_next_group_goes_out_only_once_the_one_before_committed() => OnOneThread(async () =>
    {
        var (committer, writer, _) = New();
        writer.HoldAppends();
        var answers = new List<Task<ReducerResult>> { committer.Add(Message("a")) };
        for (var group = 1; group <= 4; group++)
        {
            await writer.AppendStarted(group);
            answers.Add(committer.Add(Message($"b{group}")));
            writer.ReleaseOneAppend();
        }
        writer.ReleaseAppends();
        await Task.WhenAll(answers);
        // Every group here had nothing uncommitted before it, so each was one autocommitted statement; none was chained.
        Assert.Equal(1, writer.MostInFlight);
        Assert.True(writer.MostInFlight <= MessageGroupCommitter.MaxGroupsInFlight);
        Assert.Equal(0, writer.Prepared);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), writer.Stored.Select(r => r.Offset));
    });

    [Fact]
    public Task A_failed_group_fails_each_of_its_callers_and_the_next_group_continues_without_a_gap() => OnOneThread(async () =>
    {
        var (committer, writer, outcomes) = New(storedBefore: 10);
        writer.FailNextAppend(new InvalidOperationException("connection refused"));
        var failed = await Task.WhenAll(committer.Add(Message("x")), committer.Add(Message("y")));

        Assert.All(failed, f => Assert.Equal(ReducerStatus.Unavailable, f.Status));
        Assert.All(failed, f => Assert.StartsWith("Storage is unavailable, nothing was changed", f.Error));
        Assert.Equal(2, outcomes.Failed.Single().Count);
        Assert.Equal(2, outcomes.NotCommitted.Single());
        Assert.Equal(1, outcomes.Suspected);

        var next = await committer.Add(Message("z"));
        Assert.Equal(11, next.Message!.Offset);
        Assert.Equal(2, writer.TailLoads);
        Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), writer.Stored.Select(r => r.Offset));
    });

    [Fact]
    public Task After_a_commit_whose_outcome_is_unknown_the_next_group_continues_from_what_storage_holds() => OnOneThread(async () =>
    {
        var (committer, writer, _) = New();
        writer.CommitThenLoseAnswer();
        var unknown = await committer.Add(Message("maybe"));
        Assert.Equal(ReducerStatus.Unavailable, unknown.Status);
        Assert.StartsWith(StorageFailure.CommitOutcomeUnknown, unknown.Error);

        var next = await committer.Add(Message("after"));
        Assert.Equal(2, next.Message!.Offset); // the lost group did commit: its offset is not given out again
        Assert.Equal([1L, 2], writer.Stored.Select(r => r.Offset));
    });

    [Fact]
    public Task A_group_for_a_database_that_is_gone_is_refused_as_not_found_and_nothing_is_written() => OnOneThread(async () =>
    {
        var (committer, writer, outcomes) = New(databaseExists: false);
        var result = await committer.Add(Message("anyone?"));
        Assert.Equal(ReducerStatus.NotFound, result.Status);
        Assert.Equal(ReducerResult.DatabaseNotFound(Database.Name).Error, result.Error);
        Assert.Empty(writer.Groups);
        Assert.Single(outcomes.Failed);
    });

    [Fact]
    public Task A_database_published_anew_gets_offsets_from_its_own_tail() => OnOneThread(async () =>
    {
        var (committer, writer, _) = New(storedBefore: 5);
        Assert.Equal(6, (await committer.Add(Message("old"))).Message!.Offset);
        writer.Reset(storedBefore: 0);
        committer.Describe = () => ValueTask.FromResult<DatabaseDescriptor?>(Database with { Id = 8 });
        var fresh = await committer.Add(Message("new"));
        Assert.Equal(1, fresh.Message!.Offset);
        Assert.Equal(8, writer.LastDatabaseId);
    });

    [Fact]
    public Task Draining_waits_for_every_message_already_accepted() => OnOneThread(async () =>
    {
        var (committer, writer, _) = New();
        writer.HoldAppends();
        var answers = new[] { committer.Add(Message("1")), committer.Add(Message("2")) };
        await writer.AppendStarted(1);
        var drained = committer.Inner.DrainAsync();
        Assert.False(drained.IsCompleted);
        writer.ReleaseAppends();
        await drained;
        Assert.All(answers, a => Assert.True(a.IsCompletedSuccessfully && a.Result.IsCommitted));
    });

    private static QueuedMessage Message(string text) => new(new ReducerCaller(Alice), text, null);

    /// <summary>Runs the test's code and the committer's continuations one at a time, like a grain's scheduler.</summary>
    private static Task OnOneThread(Func<Task> test) =>
        Task.Factory.StartNew(test, CancellationToken.None, TaskCreationOptions.None, new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler).Unwrap();

    private static (Committer, ScriptedGroupWriter, RecordedOutcomes) New(int storedBefore = 0, bool databaseExists = true)
    {
        var writer = new ScriptedGroupWriter(storedBefore);
        var outcomes = new RecordedOutcomes();
        var committer = new Committer(writer, outcomes, databaseExists ? Database : null);
        return (committer, writer, outcomes);
    }

    /// <summary>The committer with a describe function the test can swap.</summary>
    private sealed class Committer
    {
        public Func<ValueTask<DatabaseDescriptor?>> Describe;
        public MessageGroupCommitter Inner { get; }

        public Committer(ScriptedGroupWriter writer, RecordedOutcomes outcomes, DatabaseDescriptor? database)
        {
            Describe = () => ValueTask.FromResult(database);
            Inner = new MessageGroupCommitter(Database.Name, writer, () => Describe(), outcomes, NullLogger.Instance);
        }

        public Task<ReducerResult> Add(QueuedMessage message) => Inner.Add(message);
        public int Waiting => Inner.Waiting;
    }

    private sealed class RecordedOutcomes : IMessageGroupOutcomes
    {
        public List<IReadOnlyList<MessageRow>> Committed { get; } = [];
        public List<IReadOnlyList<QueuedMessage>> Failed { get; } = [];
        public List<int> NotCommitted { get; } = [];
        public int Suspected { get; private set; }

        void IMessageGroupOutcomes.Committed(DatabaseDescriptor database, IReadOnlyList<QueuedMessage> group, IReadOnlyList<MessageRow> rows, TimeSpan took) => Committed.Add(rows);
        void IMessageGroupOutcomes.Failed(IReadOnlyList<QueuedMessage> group, ReducerResult failure) => Failed.Add(group);
        void IMessageGroupOutcomes.NotCommitted(int count, ReducerResult failure) => NotCommitted.Add(count);
        void IMessageGroupOutcomes.DescriptorSuspect() => Suspected++;
    }
}
