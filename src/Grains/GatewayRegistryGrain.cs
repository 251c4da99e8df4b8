using Chat.Storage;
using Orleans.Concurrency;

namespace Chat.Grains;

[StatelessWorker]
public sealed class GatewayRegistryGrain(GatewayRegistryStore store) : Grain, IGatewayRegistryGrain
{
    public Task Heartbeat(Guid gatewayId) => store.TouchGatewayAsync(gatewayId);

    public Task Leave(Guid gatewayId) => store.RemoveGatewayAsync(gatewayId);
}
