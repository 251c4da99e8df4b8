using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Chat.LoadBench;

/// <summary>Another process's memory, from /proc, and a full blocking GC forced in it through the .NET diagnostics port. Linux only.</summary>
public static class ProcessMemory
{
    /// <summary>Resident set size (VmRSS) in KB.</summary>
    public static long RssKb(int pid) => StatusKb(pid, "VmRSS:");

    /// <summary>The soft limit on open files of a process ("Max open files" in /proc/PID/limits), or -1 when unknown.</summary>
    public static long OpenFilesLimit(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var parts = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts is { Length: > 0 } && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var soft) ? soft : -1;
        }
        catch (IOException) { return -1; }
    }

    private static long StatusKb(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Forces a full blocking (gen2, compacting) GC in a .NET process, as dotnet-gcdump does: an EventPipe session on the
    /// runtime provider with the GCHeapCollect keyword (0x800000) induces one when it starts. The session is stopped at once
    /// and its trace thrown away. Speaks the diagnostics IPC protocol (dotnet/diagnostics, documentation/design-docs/ipc-protocol.md)
    /// over the process's socket in the temp directory. Returns null, or why it could not.
    /// </summary>
    public static async Task<string?> ForceGcAsync(int pid, CancellationToken cancel)
    {
        var path = Directory.GetFiles(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-*-socket").FirstOrDefault();
        if (path is null) return $"no diagnostics socket for process {pid} in {Path.GetTempPath()}";
        try
        {
            using var session = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await session.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
            var payload = new List<byte>();
            U32(payload, 16); // circular buffer, MB
            U32(payload, 1); // format: nettrace
            U32(payload, 1); // one provider:
            U64(payload, 0x800000); // keywords: GCHeapCollect
            U32(payload, 4); // level: informational
            Utf16(payload, "Microsoft-Windows-DotNETRuntime");
            Utf16(payload, ""); // no filter
            await session.SendAsync(Frame(EventPipe, CollectTracing, [.. payload]), cancel);
            var sessionId = BinaryPrimitives.ReadUInt64LittleEndian(await Response(session, cancel));
            var drain = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                while (await session.ReceiveAsync(buffer) > 0) { }
            }, CancellationToken.None);
            await Task.Delay(TimeSpan.FromMilliseconds(300), cancel);

            using var stop = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await stop.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
            var id = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(id, sessionId);
            await stop.SendAsync(Frame(EventPipe, StopTracing, id), cancel);
            await Response(stop, cancel);
            await drain.WaitAsync(TimeSpan.FromSeconds(10), cancel);
            return null;
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException or InvalidDataException)
        {
            return $"forcing a GC in process {pid}: {e.Message}";
        }
    }

    private const byte EventPipe = 0x02, StopTracing = 0x01, CollectTracing = 0x02;

    private static byte[] Frame(byte commandSet, byte commandId, byte[] payload)
    {
        var frame = new byte[20 + payload.Length];
        "DOTNET_IPC_V1\0"u8.CopyTo(frame);
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(14), (ushort)frame.Length);
        frame[16] = commandSet;
        frame[17] = commandId;
        payload.CopyTo(frame, 20);
        return frame;
    }

    /// <summary>The payload of an OK response (command set 0xFF, id 0x00); an error response throws.</summary>
    private static async Task<byte[]> Response(Socket socket, CancellationToken cancel)
    {
        var header = await ReadExactly(socket, 20, cancel);
        var body = await ReadExactly(socket, BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(14)) - 20, cancel);
        if (header[16] != 0xFF || header[17] != 0x00)
            throw new InvalidDataException($"the diagnostics port answered {header[16]:x2}/{header[17]:x2}" +
                                           (body.Length >= 4 ? $", error 0x{BinaryPrimitives.ReadUInt32LittleEndian(body):x8}" : ""));
        return body;
    }

    private static async Task<byte[]> ReadExactly(Socket socket, int count, CancellationToken cancel)
    {
        var buffer = new byte[count];
        for (var at = 0; at < count;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(at), cancel);
            if (n == 0) throw new IOException("the diagnostics port closed the connection");
            at += n;
        }
        return buffer;
    }

    private static void U32(List<byte> to, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        to.AddRange(bytes);
    }

    private static void U64(List<byte> to, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        to.AddRange(bytes);
    }

    /// <summary>Length in UTF-16 code units including the terminating NUL, then the characters and the NUL; "" is length 0.</summary>
    private static void Utf16(List<byte> to, string text)
    {
        if (text.Length == 0)
        {
            U32(to, 0);
            return;
        }
        U32(to, (uint)text.Length + 1);
        to.AddRange(Encoding.Unicode.GetBytes(text + "\0"));
    }
}
