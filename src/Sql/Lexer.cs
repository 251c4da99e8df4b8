using System.Globalization;
using System.Text;

namespace Chat.Sql;

internal enum TokenKind
{
    End,
    /// <summary>A keyword or an unquoted identifier; which one is the parser's call, since <c>offset</c> is both.</summary>
    Word,
    QuotedWord,
    Integer,
    String,
    Identity,
    Parameter,
    Symbol,
}

/// <param name="Text">The token as written, for error messages (for strings and quoted words, with their quotes).</param>
/// <param name="Value">The integer (<see cref="ulong"/>), the unescaped string or word, the <see cref="Chat.Identity"/>, or the parameter name.</param>
internal readonly record struct Token(TokenKind Kind, string Text, SqlPosition Position, object? Value = null)
{
    public bool IsWord(string keyword) => Kind == TokenKind.Word && Text.Equals(keyword, StringComparison.OrdinalIgnoreCase);

    public bool IsSymbol(string symbol) => Kind == TokenKind.Symbol && Text == symbol;

    public string Describe()
    {
        if (Kind == TokenKind.End) return "the end of the query";
        var text = Text.Length <= 40 ? Text : Text[..37] + "...";
        return Kind switch
        {
            TokenKind.String => $"the string {text}",
            _ => $"'{text}'",
        };
    }
}

/// <summary>
/// Turns query text into tokens on demand, so that errors come in the order a reader meets them.
/// Comments and whitespace are skipped. Only ASCII is allowed outside strings and quoted identifiers:
/// look-alike quotes and operators are far more likely to be a paste accident than intent.
/// </summary>
internal sealed class Lexer
{
    private readonly string _text;
    private int _index;
    private int _line = 1;
    private int _column = 1;

    public Lexer(string text)
    {
        _text = text;
        RejectUnsafeCharacters();
    }

    private SqlPosition Here => new(_line, _column);

    private char Peek(int ahead = 0) => _index + ahead < _text.Length ? _text[_index + ahead] : '\0';

    private bool AtEnd => _index >= _text.Length;

    private void Advance()
    {
        var c = _text[_index++];
        if (c == '\n' || (c == '\r' && Peek() != '\n'))
        {
            _line++;
            _column = 1;
        }
        else if (!char.IsLowSurrogate(c))
        {
            _column++;
        }
    }

    /// <summary>
    /// PostgreSQL cannot store NUL in text, and .NET strings can hold half a surrogate pair, which no
    /// encoding can carry; neither is a character anyone means to type, wherever it is (even in a comment).
    /// </summary>
    private void RejectUnsafeCharacters()
    {
        for (var i = 0; i < _text.Length; i++)
        {
            var c = _text[i];
            string? problem = null;
            if (c == '\0')
                problem = "The query contains a NUL character (U+0000)";
            else if (char.IsHighSurrogate(c) && i + 1 < _text.Length && char.IsLowSurrogate(_text[i + 1]))
                i++;
            else if (char.IsSurrogate(c))
                problem = $"The query contains a broken Unicode character (a lone surrogate U+{(int)c:X4})";
            if (problem is null) continue;

            while (_index < i) Advance();
            throw new SqlQueryException($"{problem} at {Here}", Here);
        }
    }

    public Token Next()
    {
        SkipWhitespaceAndComments();
        var start = Here;
        if (AtEnd) return new Token(TokenKind.End, "", start);
        var c = Peek();

        if ((c == 'x' || c == 'X') && Peek(1) == '\'') return LexQuotedHex(start);
        if (IsWordStart(c)) return LexWord(start);
        if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(Peek(1)))) return LexNumber(start);
        if (c == '\'') return LexString(start);
        if (c == '"') return LexQuotedWord(start);
        if (c == ':' && IsWordStart(Peek(1)))
        {
            Advance();
            var name = ReadWordChars();
            return new Token(TokenKind.Parameter, ":" + name, start, name);
        }

        foreach (var symbol in Symbols)
        {
            if (string.CompareOrdinal(_text, _index, symbol, 0, symbol.Length) != 0) continue;
            for (var i = 0; i < symbol.Length; i++) Advance();
            return new Token(TokenKind.Symbol, symbol, start);
        }
        throw UnexpectedCharacter(start);
    }

    // Longest first, so that "<=" is not read as "<" then "=".
    private static readonly string[] Symbols = ["<>", "<=", ">=", "!=", "<", ">", "=", "(", ")", ",", ".", "*", ";", "-", "+"];

    private static bool IsWordStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private string ReadWordChars()
    {
        var begin = _index;
        while (!AtEnd && IsWordChar(Peek())) Advance();
        return _text[begin.._index];
    }

    private void SkipWhitespaceAndComments()
    {
        while (!AtEnd)
        {
            var c = Peek();
            if (char.IsWhiteSpace(c))
            {
                Advance();
            }
            else if (c == '-' && Peek(1) == '-')
            {
                while (!AtEnd && Peek() != '\n' && Peek() != '\r') Advance();
            }
            else if (c == '/' && Peek(1) == '*')
            {
                SkipBlockComment();
            }
            else
            {
                return;
            }
        }
    }

    /// <summary>Block comments nest, as in PostgreSQL, so commenting out a query that has comments works.</summary>
    private void SkipBlockComment()
    {
        var start = Here;
        var depth = 0;
        do
        {
            if (AtEnd)
                throw new SqlQueryException($"The comment that starts at {start} never ends: expected */", start);
            if (Peek() == '/' && Peek(1) == '*')
            {
                depth++;
                Advance();
            }
            else if (Peek() == '*' && Peek(1) == '/')
            {
                depth--;
                Advance();
            }
            Advance();
        } while (depth > 0);
    }

    private Token LexWord(SqlPosition start)
    {
        var word = ReadWordChars();
        if (word.Length > SqlQuery.MaxIdentifierLength)
            throw new SqlQueryException($"The name '{word[..20]}...' is {word.Length} characters long; names are at most {SqlQuery.MaxIdentifierLength}", start);
        return new Token(TokenKind.Word, word, start, word);
    }

    /// <summary>
    /// Numbers as SpacetimeDB writes them: <c>12</c>, <c>1e3</c>, <c>1E+3</c>, <c>1.5</c>, <c>.5</c>, <c>15e-1</c>. Their value is
    /// exact (no floating point on the way), and must be a whole number that fits in U64, because that is the only numeric type
    /// here (<c>offset</c>, LIMIT, OFFSET): SpacetimeDB refuses a fraction for an integer column too.
    /// </summary>
    private Token LexNumber(SqlPosition start)
    {
        var begin = _index;
        if (Peek() == '0' && (Peek(1) == 'x' || Peek(1) == 'X'))
        {
            Advance();
            Advance();
            var digitsStart = _index;
            while (!AtEnd && IsWordChar(Peek())) Advance();
            return IdentityToken(start, _text[begin.._index], _text[digitsStart.._index]);
        }

        var whole = ReadDigits();
        var fraction = "";
        if (Peek() == '.' && char.IsAsciiDigit(Peek(1)))
        {
            Advance();
            fraction = ReadDigits();
        }
        var exponent = "";
        var exponentNegative = false;
        if ((Peek() == 'e' || Peek() == 'E')
            && (char.IsAsciiDigit(Peek(1)) || ((Peek(1) == '+' || Peek(1) == '-') && char.IsAsciiDigit(Peek(2)))))
        {
            Advance();
            if (Peek() is '+' or '-')
            {
                exponentNegative = Peek() == '-';
                Advance();
            }
            exponent = ReadDigits();
        }
        var text = _text[begin.._index];
        if (IsWordChar(Peek()) || Peek() == '.')
        {
            while (!AtEnd && (IsWordChar(Peek()) || Peek() == '.')) Advance();
            throw new SqlQueryException($"'{Shorten(_text[begin.._index])}' at {start} is not a number (a number cannot run into letters)", start);
        }
        return new Token(TokenKind.Integer, text, start, WholeNumber(text, whole, fraction, exponent, exponentNegative, start));
    }

    private string ReadDigits()
    {
        var begin = _index;
        while (!AtEnd && char.IsAsciiDigit(Peek())) Advance();
        return _text[begin.._index];
    }

    /// <summary>
    /// The value of <c>whole.fraction × 10^±exponent</c>, worked out on the digits as text so that neither a long mantissa
    /// nor an exponent like 1e999999999 costs more than reading it.
    /// </summary>
    private static ulong WholeNumber(string text, string whole, string fraction, string exponent, bool exponentNegative, SqlPosition start)
    {
        var digits = (whole + fraction).TrimStart('0');
        if (digits.Length == 0) return 0;
        var significant = digits.TrimEnd('0');
        // The value is significant × 10^scale; significant ends in a non-zero digit, so a negative scale means a fraction.
        var trimmedExponent = exponent.TrimStart('0');
        long power = trimmedExponent.Length > 12 ? 1_000_000_000_000L : trimmedExponent.Length == 0 ? 0 : long.Parse(trimmedExponent, CultureInfo.InvariantCulture);
        var scale = (digits.Length - significant.Length) - fraction.Length + (exponentNegative ? -power : power);
        if (scale < 0)
            throw new SqlQueryException(
                $"The number {Shorten(text)} at {start} is not a whole number; the only numbers here are U64 (offset, LIMIT, OFFSET), " +
                "so a fraction can never match", start);
        if (significant.Length + scale > 20
            || !ulong.TryParse(significant + new string('0', (int)scale), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            throw new SqlQueryException(
                $"The number {Shorten(text)} at {start} is too large; numbers must fit in U64 (at most {ulong.MaxValue})", start);
        return value;
    }

    private Token LexQuotedHex(SqlPosition start)
    {
        var begin = _index;
        Advance();
        Advance();
        var digitsStart = _index;
        while (!AtEnd && Peek() != '\'') Advance();
        if (AtEnd)
            throw new SqlQueryException($"The hex literal that starts at {start} never ends: expected a closing '", start);
        var digits = _text[digitsStart.._index];
        Advance();
        return IdentityToken(start, _text[begin.._index], digits);
    }

    private static Token IdentityToken(SqlPosition start, string text, string digits)
    {
        var bad = digits.FirstOrDefault(c => !char.IsAsciiHexDigit(c));
        if (bad != '\0')
            throw new SqlQueryException($"'{Shorten(text)}' at {start} is not an identity: '{bad}' is not a hex digit", start);
        if (digits.Length != Identity.HexLength)
            throw new SqlQueryException(
                $"'{Shorten(text)}' at {start} is not an identity: an identity is {Identity.HexLength} hex digits, this has {digits.Length}", start);
        return new Token(TokenKind.Identity, text, start, Identity.Parse(digits));
    }

    private Token LexString(SqlPosition start)
    {
        var value = ReadQuoted('\'', start, "string");
        if (value.EnumerateRunes().Count() > SqlQuery.MaxStringLength)
            throw new SqlQueryException(
                $"The string at {start} is {value.EnumerateRunes().Count()} characters long; strings are at most {SqlQuery.MaxStringLength}", start);
        return new Token(TokenKind.String, "'" + value.Replace("'", "''") + "'", start, value);
    }

    private Token LexQuotedWord(SqlPosition start)
    {
        var value = ReadQuoted('"', start, "quoted name");
        if (value.Length == 0)
            throw new SqlQueryException($"Expected a name between the double quotes at {start}, found \"\"", start);
        if (value.Length > SqlQuery.MaxIdentifierLength)
            throw new SqlQueryException($"The quoted name at {start} is {value.Length} characters long; names are at most {SqlQuery.MaxIdentifierLength}", start);
        return new Token(TokenKind.QuotedWord, "\"" + value.Replace("\"", "\"\"") + "\"", start, value);
    }

    /// <summary>Reads up to the closing quote; a doubled quote stands for one.</summary>
    private string ReadQuoted(char quote, SqlPosition start, string what)
    {
        Advance();
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd)
                throw new SqlQueryException($"The {what} that starts at {start} never ends: expected a closing {quote}", start);
            var c = Peek();
            Advance();
            if (c == quote)
            {
                if (Peek() != quote) return value.ToString();
                Advance();
            }
            value.Append(c);
        }
    }

    private SqlQueryException UnexpectedCharacter(SqlPosition start)
    {
        var rune = Rune.GetRuneAt(_text, _index);
        var hint = rune.Value switch
        {
            '`' or 0x2018 or 0x2019 or 0x02BC or 0xFF07 or 0x201C or 0x201D or 0xFF02 or 0x00B4 =>
                "; strings use straight single quotes ('text') and quoted names straight double quotes (\"name\")",
            '!' => "; for 'not equal' write != or <>",
            '/' or '%' or '|' or '&' or '^' or '~' => "; arithmetic and other operators are not supported",
            '[' or ']' or '{' or '}' => "; to quote a name, use double quotes (\"name\")",
            ':' => "; the only parameter is :sender",
            _ => "",
        };
        var shown = Rune.IsControl(rune) || Rune.IsWhiteSpace(rune) ? "" : $"'{rune}' ";
        return new SqlQueryException($"Unexpected character {shown}(U+{rune.Value:X4}) at {start}{hint}", start);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";
}
