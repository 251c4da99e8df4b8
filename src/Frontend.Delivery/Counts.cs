namespace Chat.Frontend.Delivery;

/// <summary>Counts kept in a dictionary whose entries go at zero, so that its size follows what is counted now.</summary>
internal static class Counts
{
    public static void Increment<T>(this Dictionary<T, int> counts, T key) where T : notnull =>
        counts[key] = counts.GetValueOrDefault(key) + 1;

    public static void Decrement<T>(this Dictionary<T, int> counts, T key) where T : notnull
    {
        if (!counts.TryGetValue(key, out var count)) return;
        if (count <= 1) counts.Remove(key);
        else counts[key] = count - 1;
    }
}
