using System.Net;
using System.Net.Sockets;

namespace Chat.Silo;

/// <summary>
/// Orleans listens with address reuse (SO_REUSEPORT on Linux), so a second stack given the same silo or gateway
/// port binds it without an error, and the kernel then shares the connections between the two processes. Binding
/// each port ourselves first, without reuse, turns that into a refusal to start; the sockets are closed again
/// before Orleans and Kestrel bind.
/// </summary>
public static class PortCheck
{
    /// <summary>A port this process will listen on, and how to choose another.</summary>
    public sealed record Port(string What, IPEndPoint Endpoint, string Advice);

    private const string OrleansAdvice = "set Chat__SiloPort / Chat__GatewayPort to ports no other stack on this machine uses, or stop the other stack.";

    /// <summary>The ports of the silo, its gateway and (when set) Kestrel's endpoints.</summary>
    public static IEnumerable<Port> Of(SiloSettings settings, IPAddress siloAddress, IConfiguration configuration, bool grpcEnabled)
    {
        yield return new Port("Orleans silo", new IPEndPoint(siloAddress, settings.SiloPort), OrleansAdvice);
        yield return new Port("Orleans gateway", new IPEndPoint(siloAddress, settings.GatewayPort), OrleansAdvice);
        if (grpcEnabled && KestrelEndpoint(configuration["Kestrel:Endpoints:Grpc:Url"]) is { } grpc)
            yield return new Port("gRPC", grpc, "set Kestrel__Endpoints__Grpc__Url to another port, or stop the other stack.");
        if (KestrelEndpoint(configuration["Kestrel:Endpoints:Http:Url"]) is { } http)
            yield return new Port("HTTP", http, "set Kestrel__Endpoints__Http__Url to another port, or stop the other stack.");
    }

    /// <summary>The first port another process already listens on, as a sentence saying what to do; null if all are free.</summary>
    public static string? FirstBusy(IEnumerable<Port> ports)
    {
        foreach (var port in ports)
            if (port.Endpoint.Port != 0 && !IsFree(port.Endpoint))
                return $"the {port.What} port {port.Endpoint.Port} on {port.Endpoint.Address} is already in use (another chat stack?); {port.Advice}";
        return null;
    }

    private static bool IsFree(IPEndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen();
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
    }

    /// <summary>Kestrel's URL forms: an IP address, localhost, or a wildcard (*, +, a host name) for every address.</summary>
    private static IPEndPoint? KestrelEndpoint(string? url)
    {
        if (string.IsNullOrWhiteSpace(url)) return null;
        var authority = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/')[0];
        var colon = authority.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(authority[(colon + 1)..], out var port)) return null;
        var host = authority[..colon].Trim('[', ']');
        var address = IPAddress.TryParse(host, out var ip) ? ip
            : host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.Any;
        return new IPEndPoint(address, port);
    }
}
