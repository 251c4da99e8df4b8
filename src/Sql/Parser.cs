namespace Chat.Sql;

/// <summary>
/// Recursive descent over the grammar below; see <see cref="SqlQuery"/> for what each part means. One file (about 490
/// lines) on purpose: one method per grammar rule, read top to bottom beside the grammar, with the precedence levels
/// next to each other.
/// <code>
/// query     := SELECT items FROM table join* [WHERE expr] [ORDER BY order (',' order)*]
///              ([LIMIT n] [OFFSET n] | OFFSET n LIMIT n) [';']
/// items     := '*' | COUNT '(' '*' ')' [[AS] name] | item (',' item)*
/// item      := name '.' '*' | column [[AS] name]
/// table     := name [[AS] name]
/// join      := [INNER] JOIN table [ON expr] | CROSS JOIN table
/// order     := expr [ASC | DESC]
/// expr      := and (OR and)*
/// and       := not (AND not)*
/// not       := NOT not | is
/// is        := compare [IS [NOT] NULL]
/// compare   := primary [('=' | '!=' | '&lt;>' | '&lt;' | '>' | '&lt;=' | '>=') primary]
/// primary   := '(' expr ')' | column | ['+'] number | string | TRUE | FALSE | 0x… | X'…' | :sender
/// number    := (digits ['.' digits] | '.' digits) [('e' | 'E') ['+' | '-'] digits], whose value must be a whole U64
/// column    := name ['.' name]
/// </code>
/// <c>offset</c> is a column of Message and a clause keyword: it is a column wherever an expression can start
/// and the clause wherever a clause can.
/// </summary>
internal sealed class Parser
{
    /// <summary>Words that cannot be an unquoted table alias or column name, because a clause or operator could start there.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "JOIN", "INNER", "ON", "ORDER", "BY", "ASC", "DESC",
        "LIMIT", "OFFSET", "IS", "NULL", "TRUE", "FALSE",
        // Not supported, but reserved so that using them gives an error about them rather than about an alias.
        "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "GROUP", "HAVING", "UNION", "INTERSECT", "EXCEPT",
        "DISTINCT", "IN", "LIKE", "BETWEEN",
    };

    private static readonly HashSet<string> StatementWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "TRUNCATE", "GRANT", "REVOKE", "COPY", "SET", "RESET",
        "BEGIN", "START", "COMMIT", "ROLLBACK", "ABORT", "END", "SAVEPOINT", "RELEASE", "WITH", "EXPLAIN", "ANALYZE",
        "VACUUM", "CALL", "DO", "LOCK", "MERGE", "REINDEX", "CLUSTER", "COMMENT", "LISTEN", "NOTIFY", "UNLISTEN",
        "PREPARE", "EXECUTE", "DEALLOCATE", "DECLARE", "FETCH", "MOVE", "CLOSE", "SHOW", "VALUES", "TABLE", "IMPORT",
        "REFRESH", "SECURITY", "DISCARD", "LOAD", "CHECKPOINT", "REASSIGN", "UPSERT", "REPLACE", "SUBSCRIBE",
    };

    private readonly Lexer _lexer;
    private readonly List<Token> _lookahead = [];
    private int _depth;

    private Parser(string text) => _lexer = new Lexer(text);

    public static SqlSelect Parse(string text) => new Parser(text).ParseQuery();

    // ---- tokens -----------------------------------------------------------------------------

    private Token Peek(int ahead = 0)
    {
        while (_lookahead.Count <= ahead)
        {
            // Never read past the end: the lexer would only hand out more End tokens.
            if (_lookahead.Count > 0 && _lookahead[^1].Kind == TokenKind.End) return _lookahead[^1];
            _lookahead.Add(_lexer.Next());
        }
        return _lookahead[ahead];
    }

    private Token Take()
    {
        var token = Peek();
        _lookahead.RemoveAt(0);
        return token;
    }

    private bool TakeWord(string keyword)
    {
        if (!Peek().IsWord(keyword)) return false;
        Take();
        return true;
    }

    private bool TakeSymbol(string symbol)
    {
        if (!Peek().IsSymbol(symbol)) return false;
        Take();
        return true;
    }

    private static readonly Dictionary<string, string> Unsupported = new(StringComparer.OrdinalIgnoreCase)
    {
        ["LEFT"] = "Only inner joins are supported: write [INNER] JOIN table ON a = b",
        ["RIGHT"] = "Only inner joins are supported: write [INNER] JOIN table ON a = b",
        ["FULL"] = "Only inner joins are supported: write [INNER] JOIN table ON a = b",
        ["OUTER"] = "Only inner joins are supported: write [INNER] JOIN table ON a = b",
        ["NATURAL"] = "Only inner joins are supported: write [INNER] JOIN table ON a = b",
        ["GROUP"] = "GROUP BY is not supported; COUNT(*) counts all matching rows",
        ["HAVING"] = "HAVING is not supported",
        ["UNION"] = "UNION is not supported; run one query per table",
        ["INTERSECT"] = "INTERSECT is not supported",
        ["EXCEPT"] = "EXCEPT is not supported",
        ["DISTINCT"] = "DISTINCT is not supported",
        ["IN"] = "IN (...) is not supported; combine = comparisons with OR",
        ["LIKE"] = "LIKE is not supported; compare with =, <, > and the like",
        ["BETWEEN"] = "BETWEEN is not supported; write a >= x AND a <= y",
    };

    /// <summary>What was expected where; for a word we know but do not support, says so instead.</summary>
    private static SqlQueryException Expected(string what, Token found)
    {
        if (found.Kind == TokenKind.Word && Unsupported.TryGetValue(found.Text, out var why))
            return new SqlQueryException($"{why} (found '{found.Text}' at {found.Position})", found.Position);
        return new SqlQueryException($"Expected {what} at {found.Position}, found {found.Describe()}", found.Position);
    }

    private void ExpectWord(string keyword, string context)
    {
        if (!TakeWord(keyword)) throw Expected($"{keyword} {context}", Peek());
    }

    private void ExpectSymbol(string symbol, string context)
    {
        if (!TakeSymbol(symbol)) throw Expected($"'{symbol}' {context}", Peek());
    }

    /// <summary>An identifier: any quoted word, or an unquoted word that is not reserved (<paramref name="allowOffset"/>: or is <c>offset</c>).</summary>
    private static bool IsName(Token token, bool allowOffset = false) =>
        token.Kind == TokenKind.QuotedWord
        || (token.Kind == TokenKind.Word && (!Reserved.Contains(token.Text) || (allowOffset && token.IsWord("OFFSET"))));

    private string TakeName(string what, bool allowOffset = false)
    {
        var token = Peek();
        if (!IsName(token, allowOffset))
        {
            if (token.Kind == TokenKind.Word)
                throw new SqlQueryException(
                    $"Expected {what} at {token.Position}, found the keyword '{token.Text}' (to use it as a name, put it in double quotes)",
                    token.Position);
            throw Expected(what, token);
        }
        return (string)Take().Value!;
    }

    // ---- statement --------------------------------------------------------------------------

    private SqlSelect ParseQuery()
    {
        var first = Peek();
        if (first.Kind == TokenKind.End)
            throw new SqlQueryException("The query is empty; expected SELECT", first.Position);
        if (!first.IsWord("SELECT"))
        {
            if (first.Kind == TokenKind.Word && StatementWords.Contains(first.Text))
                throw new SqlQueryException(
                    $"Only SELECT queries are allowed; '{first.Text.ToUpperInvariant()}' statements are not (at {first.Position})", first.Position);
            throw Expected("SELECT at the start of the query (only SELECT queries are allowed)", first);
        }
        Take();

        var items = ParseSelectItems();
        ExpectWord("FROM", "after the column list");
        var from = ParseTableRef();

        // A join without ON is SpacetimeDB's too (its row-level security examples link the tables in WHERE instead).
        var joins = new List<SqlJoin>();
        while (Peek().IsWord("JOIN") || Peek().IsWord("INNER") || Peek().IsWord("CROSS"))
        {
            var at = Peek().Position;
            var cross = TakeWord("CROSS");
            if (cross) ExpectWord("JOIN", "after CROSS");
            else if (TakeWord("INNER")) ExpectWord("JOIN", "after INNER");
            else Take();
            var table = ParseTableRef();
            if (cross && Peek().IsWord("ON"))
                throw new SqlQueryException(
                    $"CROSS JOIN takes no ON (at {Peek().Position}); write JOIN {table} ON ..., or put the condition in WHERE", Peek().Position);
            joins.Add(new SqlJoin(table, !cross && TakeWord("ON") ? ParseExpr() : null, at, cross));
        }

        SqlExpr? where = null;
        if (TakeWord("WHERE")) where = ParseExpr();

        var orderBy = new List<SqlOrderItem>();
        if (TakeWord("ORDER"))
        {
            ExpectWord("BY", "after ORDER");
            do
            {
                var expr = ParseExpr();
                var descending = TakeWord("DESC");
                if (!descending) TakeWord("ASC");
                orderBy.Add(new SqlOrderItem(expr, descending));
            } while (TakeSymbol(","));
        }

        ulong? limit = null, offset = null;
        if (TakeWord("LIMIT"))
        {
            limit = ParseCount("LIMIT");
            if (TakeWord("OFFSET")) offset = ParseCount("OFFSET");
        }
        else if (TakeWord("OFFSET"))
        {
            offset = ParseCount("OFFSET");
            if (TakeWord("LIMIT")) limit = ParseCount("LIMIT");
        }

        var semicolon = TakeSymbol(";");
        var end = Peek();
        if (end.Kind != TokenKind.End)
        {
            if (semicolon)
                throw new SqlQueryException(
                    $"Only one statement is allowed per query; found {end.Describe()} after ';' at {end.Position}", end.Position);
            throw Expected(WhatCanFollow(joins.Count > 0 ? joins[^1] : null, where is not null, orderBy.Count > 0, limit is not null, offset is not null), end);
        }
        return new SqlSelect(items, from, joins, where, orderBy, limit, offset);
    }

    private static string WhatCanFollow(SqlJoin? lastJoin, bool where, bool orderBy, bool limit, bool offset)
    {
        var next = new List<string>();
        var noTail = !orderBy && !limit && !offset;
        if (!where && noTail)
            next.AddRange(lastJoin switch
            {
                { On: not null } => ["JOIN", "AND", "OR", "WHERE"],
                { Cross: false } => ["ON", "JOIN", "WHERE"],
                _ => ["JOIN", "WHERE"],
            });
        if (where && noTail) next.AddRange(["AND", "OR"]);
        if (noTail) next.Add("ORDER BY");
        if (orderBy && !limit && !offset) next.AddRange(["','", "LIMIT", "OFFSET"]);
        else
        {
            if (!limit) next.Add("LIMIT");
            if (!offset) next.Add("OFFSET");
        }
        return string.Join(", ", next) + " or the end of the query";
    }

    private List<SqlSelectItem> ParseSelectItems()
    {
        var first = Peek();
        if (first.IsSymbol("*"))
        {
            Take();
            if (Peek().IsSymbol(","))
                throw new SqlQueryException(
                    $"'*' must be the only item in the column list (at {first.Position}); to pick columns, list them, or use t.*", first.Position);
            return [new SqlStar(first.Position)];
        }
        if (IsCount())
        {
            var count = ParseCount();
            if (Peek().IsSymbol(","))
                throw new SqlQueryException($"COUNT(*) must be the only item in the column list (at {first.Position})", first.Position);
            return [count];
        }

        var items = new List<SqlSelectItem>();
        do
        {
            var token = Peek();
            if (token.IsSymbol("*"))
                throw new SqlQueryException($"'*' must be the only item in the column list (at {token.Position}); use t.* to add one table's columns", token.Position);
            if (IsCount())
                throw new SqlQueryException($"COUNT(*) must be the only item in the column list (at {token.Position})", token.Position);
            if (IsName(token, allowOffset: true) && Peek(1).IsSymbol(".") && Peek(2).IsSymbol("*"))
            {
                var qualifier = TakeName("a table name");
                Take();
                Take();
                items.Add(new SqlTableStar(qualifier, token.Position));
            }
            else if (IsName(token, allowOffset: true))
            {
                items.Add(new SqlColumnItem(ParseColumnRef(), ParseAlias(), token.Position));
            }
            else
            {
                throw Expected(items.Count == 0 ? "a column, * or COUNT(*) after SELECT" : "a column after ','", token);
            }
        } while (TakeSymbol(","));
        return items;
    }

    private bool IsCount() => Peek().IsWord("COUNT") && Peek(1).IsSymbol("(");

    private SqlCount ParseCount()
    {
        var at = Take().Position;
        Take();
        if (!Peek().IsSymbol("*"))
            throw Expected("'*' in COUNT( ) (only COUNT(*) is supported)", Peek());
        Take();
        ExpectSymbol(")", "after COUNT(*");
        return new SqlCount(ParseAlias(), at);
    }

    /// <summary><c>AS name</c>, or as SpacetimeDB and PostgreSQL also allow, just the name (unless it is a keyword).</summary>
    private string? ParseAlias()
    {
        if (TakeWord("AS")) return TakeName("a name after AS", allowOffset: true);
        return IsName(Peek()) ? (string)Take().Value! : null;
    }

    private SqlTableRef ParseTableRef()
    {
        var at = Peek().Position;
        var name = TakeName("a table name (User or Message)");
        string? alias = null;
        if (TakeWord("AS")) alias = TakeName("an alias after AS", allowOffset: true);
        else if (IsName(Peek())) alias = (string)Take().Value!;
        return new SqlTableRef(name, alias, at);
    }

    private SqlColumnRef ParseColumnRef()
    {
        var at = Peek().Position;
        var name = TakeName("a column name", allowOffset: true);
        if (!TakeSymbol(".")) return new SqlColumnRef(null, name, at);
        // After "t." only a column can follow, so keywords are fine there ("m.offset").
        var token = Peek();
        if (token.Kind is not (TokenKind.Word or TokenKind.QuotedWord))
            throw Expected($"a column name after '{name}.'", token);
        Take();
        return new SqlColumnRef(name, (string)token.Value!, at);
    }

    private ulong ParseCount(string clause)
    {
        var token = Peek();
        if (token.IsSymbol("-"))
            throw new SqlQueryException($"{clause} cannot be negative (at {token.Position})", token.Position);
        if (token.IsSymbol("+") && Peek(1).Kind == TokenKind.Integer)
        {
            Take();
            token = Peek();
        }
        if (token.Kind != TokenKind.Integer)
            throw Expected($"a whole number after {clause}", token);
        Take();
        var value = (ulong)token.Value!;
        if (value > long.MaxValue)
            throw new SqlQueryException($"{clause} {value} at {token.Position} is too large; the largest is {long.MaxValue}", token.Position);
        return value;
    }

    // ---- expressions ------------------------------------------------------------------------

    /// <summary>Counts parentheses and NOTs: the only ways to nest, and so the only ways to run the stack dry.</summary>
    private void Enter(SqlPosition at)
    {
        if (++_depth > SqlQuery.MaxDepth)
            throw new SqlQueryException(
                $"The condition is nested too deeply at {at}: at most {SqlQuery.MaxDepth} levels of parentheses and NOT", at);
    }

    private void Leave() => _depth--;

    private SqlExpr ParseExpr()
    {
        var first = ParseAnd();
        if (!Peek().IsWord("OR")) return first;
        var operands = new List<SqlExpr> { first };
        while (TakeWord("OR")) operands.Add(ParseAnd());
        return new SqlOr(operands, first.Position);
    }

    private SqlExpr ParseAnd()
    {
        var first = ParseNot();
        if (!Peek().IsWord("AND")) return first;
        var operands = new List<SqlExpr> { first };
        while (TakeWord("AND")) operands.Add(ParseNot());
        return new SqlAnd(operands, first.Position);
    }

    private SqlExpr ParseNot()
    {
        if (!Peek().IsWord("NOT")) return ParseIs();
        var at = Take().Position;
        Enter(at);
        var operand = ParseNot();
        Leave();
        return new SqlNot(operand, at);
    }

    private SqlExpr ParseIs()
    {
        var operand = ParseComparison();
        if (!TakeWord("IS")) return operand;
        var negated = TakeWord("NOT");
        if (!TakeWord("NULL")) throw Expected(negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS", Peek());
        return new SqlIsNull(operand, negated, operand.Position);
    }

    private SqlExpr ParseComparison()
    {
        var left = ParsePrimary();
        RejectArithmetic(Peek());
        var op = ComparisonOperator(Peek());
        if (op is null) return left;
        var at = Take().Position;
        var right = ParsePrimary();
        var next = Peek();
        RejectArithmetic(next);
        if (ComparisonOperator(next) is not null)
            throw new SqlQueryException(
                $"Comparisons cannot be chained (at {next.Position}); combine them with AND, as in a < b AND b < c", next.Position);
        return new SqlComparison(op.Value, left, right, at);
    }

    /// <summary>'+' and '-' are signs before a number; between two values they would be arithmetic, which neither we nor SpacetimeDB's WHERE do.</summary>
    private static void RejectArithmetic(Token token)
    {
        if (token.IsSymbol("+") || token.IsSymbol("-") || token.IsSymbol("*"))
            throw new SqlQueryException(
                $"Arithmetic is not supported (found '{token.Text}' at {token.Position}); compare a column with a value, as in offset > 1000",
                token.Position);
    }

    private static SqlComparisonOperator? ComparisonOperator(Token token) => token.Kind != TokenKind.Symbol ? null : token.Text switch
    {
        "=" => SqlComparisonOperator.Equal,
        "!=" or "<>" => SqlComparisonOperator.NotEqual,
        "<" => SqlComparisonOperator.Less,
        ">" => SqlComparisonOperator.Greater,
        "<=" => SqlComparisonOperator.LessOrEqual,
        ">=" => SqlComparisonOperator.GreaterOrEqual,
        _ => null,
    };

    private SqlExpr ParsePrimary()
    {
        var token = Peek();
        switch (token.Kind)
        {
            case TokenKind.Symbol when token.Text == "(":
            {
                Take();
                Enter(token.Position);
                var inner = ParseExpr();
                var close = Peek();
                if (!TakeSymbol(")"))
                    throw new SqlQueryException(
                        $"Expected ')' at {close.Position} to close the '(' at {token.Position}, found {close.Describe()}", close.Position);
                Leave();
                return inner;
            }
            case TokenKind.Symbol when token.Text == "-" && Peek(1).Kind == TokenKind.Integer:
                throw new SqlQueryException(
                    $"Negative numbers are not supported (at {token.Position}); the only numbers are U64 offsets", token.Position);
            case TokenKind.Symbol when token.Text == "+":
                Take();
                if (Peek().Kind != TokenKind.Integer)
                    throw new SqlQueryException(
                        $"'+' at {token.Position} can only stand before a number, as in +1; arithmetic is not supported", token.Position);
                return new SqlLiteral(SqlLiteralKind.Number, Take().Value!, token.Position);
            case TokenKind.Integer:
                Take();
                return new SqlLiteral(SqlLiteralKind.Number, token.Value!, token.Position);
            case TokenKind.String:
                Take();
                return new SqlLiteral(SqlLiteralKind.Text, token.Value!, token.Position);
            case TokenKind.Identity:
                Take();
                return new SqlLiteral(SqlLiteralKind.Identity, token.Value!, token.Position);
            case TokenKind.Parameter:
                if (!((string)token.Value!).Equals("sender", StringComparison.OrdinalIgnoreCase))
                    throw new SqlQueryException($"Unknown parameter '{token.Text}' at {token.Position}; the only parameter is :sender", token.Position);
                Take();
                return new SqlSenderParameter(token.Position);
            case TokenKind.Word when token.IsWord("TRUE") || token.IsWord("FALSE"):
                Take();
                return new SqlLiteral(SqlLiteralKind.Bool, token.IsWord("TRUE"), token.Position);
            case TokenKind.Word when token.IsWord("NULL"):
                throw new SqlQueryException(
                    $"NULL can only be tested with IS NULL or IS NOT NULL (at {token.Position}); a comparison with NULL is never true",
                    token.Position);
        }
        if (IsName(token, allowOffset: true)) return ParseColumnRef();
        throw Expected("a column, a value or '('", token);
    }
}
