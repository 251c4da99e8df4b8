using System.Text.RegularExpressions;

namespace Chat;

/// <summary>Database names follow SpacetimeDB's: lowercase words of letters and digits joined by single hyphens.</summary>
public static partial class DatabaseName
{
    public const int MaxLength = 64;

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <returns>null when the name is valid, otherwise why it is not.</returns>
    public static string? Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return "A database name must not be empty.";
        if (name.Length > MaxLength)
            return $"A database name must be at most {MaxLength} characters; '{LogText.Escape(name[..16])}…' has {name.Length}.";
        if (!Pattern().IsMatch(name))
            return $"'{LogText.Escape(name)}' is not a valid database name: use lowercase letters, digits and single hyphens between them (like 'quickstart-chat').";
        return null;
    }
}
