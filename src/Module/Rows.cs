namespace Chat;

/// <summary>A row of the <c>user</c> table.</summary>
[GenerateSerializer, Immutable]
public sealed record UserRow(
    [property: Id(0)] Identity Identity,
    [property: Id(1)] string? Name,
    [property: Id(2)] bool Online);

/// <summary>A row of the <c>message</c> table. <see cref="Offset"/> is gap-free and increasing per database.</summary>
[GenerateSerializer, Immutable]
public sealed record MessageRow(
    [property: Id(0)] long Offset,
    [property: Id(1)] Identity Sender,
    [property: Id(2)] DateTime Sent,
    [property: Id(3)] string Text);
