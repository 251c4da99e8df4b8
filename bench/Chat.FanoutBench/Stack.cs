using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Chat.Grains;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Orleans.Configuration;
using V1 = Chat.Api.V1;

namespace Chat.FanoutBench;

/// <summary>N anonymous Connect streams to one database, each subscribed to <c>SELECT * FROM Message</c>, and their readers.</summary>
public sealed class StackClients : StreamClients<AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>>
{
    private StackClients(int count, string address) : base(count, address) { }

    /// <summary>Opens the streams (a few at a time), subscribes each and reads its snapshot, then starts its reader.</summary>
    public static async Task<StackClients> OpenAsync(string address, string database, Round round, CancellationToken cancellationToken)
    {
        var count = round.Receivers.Length;
        var clients = new StackClients(count, address);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (i, token) => await clients.OpenOne(i, database, round.Receivers[i], token));
        }
        catch
        {
            await clients.DisposeAsync();
            throw;
        }
        return clients;
    }

    private async Task OpenOne(int i, string database, Receiver receiver, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var client = new V1.Chat.ChatClient(Channels[i / StackHost.StreamsPerChannel]);
        var call = Calls[i] = client.Connect(new Metadata { { "database", database } }, cancellationToken: Abort.Token);
        if (!await call.ResponseStream.MoveNext(timeout.Token) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
            throw new InvalidOperationException($"connection {i}: no IdentityToken first");
        await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } }, timeout.Token);
        while (true)
        {
            if (!await call.ResponseStream.MoveNext(timeout.Token))
                throw new InvalidOperationException($"connection {i}: the stream ended before the snapshot");
            var message = call.ResponseStream.Current;
            if (message.MessageCase != V1.ServerMessage.MessageOneofCase.SubscribeApplied)
                throw new InvalidOperationException($"connection {i}: {message.MessageCase} instead of SubscribeApplied: {message}");
            if (message.SubscribeApplied.Tables.Any(t => t.Messages.Count > 0 || t.Users.Count > 0))
                throw new InvalidOperationException($"connection {i}: the database should be empty");
            if (message.SubscribeApplied.Last) break;
        }
        // The reader outlives the opening (whose token only bounds the handshake); Abort is what ends it.
        Reading[i] = Task.Run(() => Read(call, receiver, Abort.Token), CancellationToken.None);
    }

    private static async Task Read(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, Receiver receiver, CancellationToken aborted)
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                receiver.OnMessage(call.ResponseStream.Current);
        }
        catch (RpcException e) when (!aborted.IsCancellationRequested)
        {
            receiver.Fail($"the stream failed: {e.Status}");
        }
    }

    /// <summary>A polite goodbye on every stream (identity_disconnected runs), then the readers must have ended cleanly.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, Calls.Length), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                if (Calls[i] is not { } call) return;
                await call.RequestStream.CompleteAsync();
                await Reading[i].WaitAsync(TimeSpan.FromSeconds(60), token);
            });
    }
}

/// <summary>The sender: unary SendMessage calls at a fixed pace (open loop), each text stamped just before its call.</summary>
public static class StackSender
{
    public static async Task<List<string>> SendAsync(V1.Chat.ChatClient chat, Metadata owner, string database, Round round, double rate, int maxInFlight,
        CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        using var slots = new SemaphoreSlim(maxInFlight);
        var calls = new List<Task>(round.Messages);
        var offsets = new bool[round.Messages + 1];
        async Task Send(int i, long stamp)
        {
            try
            {
                var reply = await chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = Payload.Text(stamp, i) }, owner,
                    cancellationToken: cancellationToken);
                var acknowledged = Stopwatch.GetTimestamp();
                lock (offsets)
                {
                    if (reply.MessageOffset is 0 || reply.MessageOffset > (ulong)round.Messages || offsets[reply.MessageOffset])
                        problems.Add($"message {i}: acknowledged with offset {reply.MessageOffset}");
                    else
                    {
                        offsets[reply.MessageOffset] = true;
                        round.Acknowledged[reply.MessageOffset] = acknowledged;
                        round.CommitLatencies.Add(acknowledged - stamp);
                    }
                }
            }
            catch (RpcException e)
            {
                lock (offsets) problems.Add($"message {i}: {e.Status}");
            }
            finally
            {
                slots.Release();
            }
        }

        await Pacer.RunAsync(round.Messages, rate, async i =>
        {
            await slots.WaitAsync(cancellationToken);
            var stamp = Stopwatch.GetTimestamp();
            if (i == 0) round.FirstSend = stamp;
            round.LastSend = stamp;
            calls.Add(Send(i, stamp));
        }, cancellationToken);
        await Task.WhenAll(calls);
        return problems;
    }
}
