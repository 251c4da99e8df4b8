using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Chat.Tests;

/// <summary>
/// The module's records cross grain calls with codecs generated in Chat.Module itself (it has Orleans' serializer, not
/// its runtime). Round-tripped here through the serializer alone; the cluster tests make the same trip in grain calls.
/// </summary>
public class ModuleSerializationTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(ChatModule).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private static T RoundTrip<T>(T value) => Serializer.Deserialize<T>(Serializer.SerializeToArray(value))!;

    [Fact]
    public void Settings_results_and_rows_survive_a_trip_through_Orleans_serialization()
    {
        var settings = ModuleSettings.Default with { MaxNameLength = 12, UniqueNames = true, MessagesPerSecond = 2.5, DatabaseMessageBurst = 7 };
        Assert.Equal(settings, RoundTrip(settings));

        var message = new MessageRow(41, Identity.Random(), new DateTime(2026, 12, 1, 5, 0, 0, DateTimeKind.Utc), "Hello, World!");
        var result = ReducerResult.Committed(message.Sent, message).AsReplay();
        Assert.Equal(result, RoundTrip(result));

        var caller = new ReducerCaller(Identity.Random(), ConnectionId.New(), 7, "key-1");
        Assert.Equal(caller, RoundTrip(caller));
    }
}
