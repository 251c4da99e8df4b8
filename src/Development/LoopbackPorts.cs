using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Chat.Development;

/// <summary>
/// Ports for servers this project starts on loopback (its local PostgreSQL, and the processes tests and drivers start),
/// chosen below the kernel's ephemeral range. A port the kernel hands out for "any free port" comes from that range, the
/// same one it takes the source ports of outgoing connections from: a server restarted on such a port can find it held
/// by some client's connection (a chaos run saw a gateway fail to bind its port 21 times, held by a pooled connection).
/// </summary>
public static class LoopbackPorts
{
    private const int Lowest = 10_000;
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A port nothing listens on now, below the ephemeral range, never the same one twice in this process.</summary>
    public static int Free()
    {
        var below = EphemeralRangeStart();
        for (var attempt = 0; below > Lowest + 1000 && attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(Lowest, below);
            lock (HandedOut)
                if (HandedOut.Contains(port)) continue;
            if (!IsFree(port)) continue;
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
        // An unusual ephemeral range: any free port, as the kernel picks it.
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralRangeStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32_768; // Linux's default
        }
    }
}
