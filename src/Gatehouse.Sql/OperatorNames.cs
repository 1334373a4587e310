namespace Gatehouse.Sql;

/// <summary>
/// The operators a statement uses, as written: <c>a @@@ b</c> gives <c>@@@</c>, <c>OPERATOR(s.||)</c> gives
/// <c>s.||</c>. An operator is a call of its function, which for one a DBA made (CREATE OPERATOR over a SQL or
/// PL/pgSQL function) may read anything: masking looks them up in the catalog as it looks up called functions.
/// </summary>
public static class OperatorNames
{
    /// <summary>Distinct operators of the statement's text; empty for a statement without operator tokens.</summary>
    public static IReadOnlyList<QualifiedName> Of(string sql, StatementFacts facts)
    {
        var text = sql.AsSpan(facts.Start, facts.Length);
        List<QualifiedName>? found = null;
        var lexer = new SqlLexer(text, standardConformingStrings: true);
        // OPERATOR ( [schema .] op ): the last word before the operator token, when a "." separates them.
        string? schema = null;
        bool dotted = false;
        while (lexer.Next(out var token))
        {
            switch (token.Kind)
            {
                case TokenKind.Operator:
                    var name = new QualifiedName(dotted ? schema : null, text.Slice(token.Start, token.Length).ToString());
                    found ??= [];
                    if (!found.Contains(name))
                    {
                        found.Add(name);
                    }

                    schema = null;
                    dotted = false;
                    break;
                case TokenKind.Word or TokenKind.QuotedIdent or TokenKind.UnicodeIdent:
                    schema = Names.Normalize(text, token);
                    dotted = false;
                    break;
                case TokenKind.Dot:
                    dotted = schema is not null;
                    break;
                default:
                    schema = null;
                    dotted = false;
                    break;
            }
        }

        return found ?? (IReadOnlyList<QualifiedName>)[];
    }
}
