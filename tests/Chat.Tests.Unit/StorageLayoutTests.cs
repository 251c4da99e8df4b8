using Chat.Grains;
using Chat.Storage;

namespace Chat.Tests;

/// <summary>
/// The local-hosting tooling (initdb, a private cluster, loopback ports) lives in Chat.Development so that what runs in
/// production cannot call it. The compiler records an assembly reference only for assemblies a program uses.
/// </summary>
public class StorageLayoutTests
{
    [Fact]
    public void Production_storage_and_grains_use_nothing_from_the_development_hosting_assembly()
    {
        foreach (var assembly in new[] { typeof(ChatSchema).Assembly, typeof(ChatSiloConfiguration).Assembly,
                     typeof(Chat.Frontend.AuthOptions).Assembly, typeof(Chat.Frontend.Delivery.GatewayOptions).Assembly })
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), reference => reference.Name == "Chat.Development");
    }
}
