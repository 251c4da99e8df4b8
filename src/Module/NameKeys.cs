using System.Globalization;
using System.Text;

namespace Chat.Grains;

/// <summary>
/// What makes two names "the same" when a database asks for unique names, and which characters a name may not hide.
/// Pure: no Orleans, no SQL.
/// </summary>
/// <remarks>
/// The key follows the idea of the UTS #39 skeleton: NFKC (fullwidth and mathematical letters, ligatures, the no-break
/// space become their plain forms), case folding, default-ignorable characters dropped, white space runs made one
/// space, then every character that looks like a Latin letter, digit or punctuation mark mapped to it. The table is a
/// subset of Unicode's confusables data (which cannot be shipped here): Cyrillic and Greek letters that look Latin in
/// either case, Latin look-alikes (dotless i, script a and g), digits that pass for letters, dashes and apostrophes.
/// Since names are compared without regard to case, a letter is mapped by what its capital looks like where that
/// is a Latin capital (Greek Η is H, so η maps to h).
/// </remarks>
public static class NameKeys
{
    /// <summary>
    /// Stored in front of every key. Change it whenever <see cref="Key"/> changes: silos recompute stored keys that do
    /// not carry the current version when they start (<c>NameKeyUpgrade</c>), since a migration cannot run this code.
    /// </summary>
    public const string Version = "k2:";

    private static readonly Dictionary<int, string> LookAlikes = Build(
        // Cyrillic (lower case; capitals fold to these)
        "а a", "в b", "г r", "е e", "ѕ s", "і i", "ј j", "к k", "м m", "н h", "о o", "п n", "р p", "с c", "т t", "у y", "х x",
        "ԁ d", "ԛ q", "ԝ w", "һ h", "ӏ l", "ү y", "ѵ v",
        // Greek
        "α a", "β b", "γ y", "ε e", "ζ z", "η h", "ι i", "κ k", "μ m", "ν n", "ο o", "ρ p", "τ t", "υ y", "χ x", "ϲ c", "ϳ j",
        // Latin look-alikes, and case folding .NET's invariant lower-casing does not do
        "ı i", "ɩ i", "ɑ a", "ɡ g", "ȷ j", "ʏ y", "ß ss", "ǀ l", "| l",
        // digits that pass for letters
        "0 o", "1 l",
        // dashes and apostrophes
        "‐ -", "‑ -", "‒ -", "– -", "— -", "― -", "− -", "’ '", "‘ '", "ʼ '", "′ '", "` '", "´ '");

    private static Dictionary<int, string> Build(params string[] pairs)
    {
        var map = new Dictionary<int, string>();
        foreach (var pair in pairs)
        {
            var space = pair.IndexOf(' ', 1);
            map[char.ConvertToUtf32(pair, 0)] = pair[(space + 1)..];
        }
        return map;
    }

    /// <summary>The uniqueness key of a (valid) name: equal for names that look alike.</summary>
    public static string Key(string name)
    {
        var folded = name.Normalize(NormalizationForm.FormKC).ToUpperInvariant().ToLowerInvariant().Normalize(NormalizationForm.FormD);
        var key = new StringBuilder(Version, folded.Length + Version.Length);
        var space = false;
        foreach (var rune in folded.EnumerateRunes())
        {
            if (IsDefaultIgnorable(rune.Value)) continue;
            if (Rune.IsWhiteSpace(rune))
            {
                space = true;
                continue;
            }
            if (space && key.Length > Version.Length) key.Append(' ');
            space = false;
            if (LookAlikes.TryGetValue(rune.Value, out var latin)) key.Append(latin);
            else key.Append(rune.ToString());
        }
        // "rn" is the classic stand-in for "m" (UTS #39 maps m to rn; the direction does not matter for a key).
        return key.Replace("rn", "m").ToString().Normalize(NormalizationForm.FormC);
    }

    /// <summary>
    /// The first character of <paramref name="name"/> that shows nothing (a default-ignorable code point, such as
    /// joiners, fillers, variation selectors, bidi marks, the byte order mark, or the blank braille pattern), or null.
    /// Emoji keep what holds them together: a zero-width joiner between two symbols, a variation selector after one.
    /// </summary>
    public static int? FirstInvisible(string name)
    {
        var runes = name.EnumerateRunes().ToArray();
        for (var i = 0; i < runes.Length; i++)
        {
            var value = runes[i].Value;
            if (value == 0x2800) return value;
            if (!IsDefaultIgnorable(value)) continue;
            var afterSymbol = i > 0 && IsEmojiPart(runes[i - 1]);
            if (value == 0x200D && afterSymbol && i + 1 < runes.Length && IsSymbol(runes[i + 1])) continue;
            if (value is 0xFE0E or 0xFE0F && afterSymbol) continue;
            return value;
        }
        return null;
    }

    private static bool IsSymbol(Rune rune) => Rune.GetUnicodeCategory(rune) == UnicodeCategory.OtherSymbol;

    /// <summary>A symbol, an emoji skin-tone modifier, or a variation selector that followed one.</summary>
    private static bool IsEmojiPart(Rune rune) =>
        IsSymbol(rune) || rune.Value is >= 0x1F3FB and <= 0x1F3FF or 0xFE0F;

    /// <summary>Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt), with the Hangul fillers.</summary>
    public static bool IsDefaultIgnorable(int value) => value switch
    {
        0x00AD or 0x034F or 0x061C or 0x115F or 0x1160 or 0x17B4 or 0x17B5 or 0x3164 or 0xFEFF or 0xFFA0 => true,
        >= 0x180B and <= 0x180F => true,
        >= 0x200B and <= 0x200F => true,
        >= 0x202A and <= 0x202E => true,
        >= 0x2060 and <= 0x206F => true,
        >= 0xFE00 and <= 0xFE0F => true,
        >= 0xFFF0 and <= 0xFFF8 => true,
        >= 0x1BCA0 and <= 0x1BCA3 => true,
        >= 0x1D173 and <= 0x1D17A => true,
        >= 0xE0000 and <= 0xE0FFF => true,
        _ => false,
    };
}
