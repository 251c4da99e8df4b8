namespace Chat;

/// <summary>
/// Where gateways say they are alive. A gateway that stops saying so for longer than the configured
/// timeout is taken for dead, and the silos end its connections (running identity_disconnected for each).
/// </summary>
public interface IGatewayRegistryGrain : IGrainWithIntegerKey
{
    Task Heartbeat(Guid gatewayId);

    /// <summary>A clean shutdown, after all of the gateway's connections have ended.</summary>
    Task Leave(Guid gatewayId);
}
