using System.Text;

namespace Gatehouse.Sql;

/// <summary>SET and RESET (gram.y VariableSetStmt / VariableResetStmt), and the run-time parameters they change.</summary>
internal ref partial struct StatementAnalyzer
{
    /// <summary>Parameters with GUC_LIST_QUOTE: SET quotes each string or identifier element
    /// (flatten_set_variable_args), e.g. SET search_path = 'A', b → "A", b.</summary>
    private static readonly string[] ListQuoted =
        ["search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries", "shared_preload_libraries"];

    /// <summary>SET [SESSION | LOCAL] …: every form of set_rest.</summary>
    private readonly StatementFacts Set()
    {
        var j = 1;
        var local = false;
        if (At(1, Kw.Local))
        {
            local = true;
            j = 2;
        }
        else if (At(1, Kw.Session) && !At(2, Kw.Authorization) && !W(2, "characteristics"))
        {
            j = 2;
        }
        if (At(j, Kw.Session) && W(j + 1, "characteristics") || At(j, Kw.Transaction))
            return Simple("SET", StatementClass.Transaction);
        if (j == 1 && At(1, Kw.Constraints))
            return Simple("SET CONSTRAINTS", StatementClass.Transaction);

        if (W(j, "time") && W(j + 1, "zone"))
            return TimeZone(j + 2, local);
        if (!Assigns(j + 1))
        {
            if (W(j, "schema"))
                return _t.Length == j + 2 && Constant(j + 1) is { } schema
                    ? Setting("SET", "search_path", Literals.QuoteIdentifier(schema), local)
                    : Unknown("SET", "SET SCHEMA 'name' expected");
            if (W(j, "names"))
            {
                if (_t.Length == j + 1 || _t.Length == j + 2 && W(j + 1, "default"))
                    return Setting("SET", "client_encoding", null, local, SettingValueKind.Default);
                return _t.Length == j + 2 && Constant(j + 1) is { } encoding
                    ? Setting("SET", "client_encoding", encoding, local)
                    : Unknown("SET", "SET NAMES 'encoding' expected");
            }
            if (W(j, "catalog"))
                return Unknown("SET", "SET CATALOG is not supported");
            if (At(j, Kw.Role))
                return _t.Length == j + 2 && WordOrConstant(j + 1) is { } role
                    ? Setting("SET", "role", role, local)
                    : Unknown("SET", "SET ROLE name expected");
            if (At(j, Kw.Session) && At(j + 1, Kw.Authorization))
            {
                if (_t.Length == j + 3 && W(j + 2, "default"))
                    return Setting("SET", "session_authorization", null, local, SettingValueKind.Default);
                return _t.Length == j + 3 && WordOrConstant(j + 2) is { } user
                    ? Setting("SET", "session_authorization", user, local)
                    : Unknown("SET", "SET SESSION AUTHORIZATION name expected");
            }
            if (W(j, "xml") && W(j + 1, "option"))
                return _t.Length == j + 3 && (W(j + 2, "document") || W(j + 2, "content"))
                    ? Setting("SET", "xmloption", W(j + 2, "document") ? "DOCUMENT" : "CONTENT", local)
                    : Unknown("SET", "SET XML OPTION DOCUMENT|CONTENT expected");
        }

        var k = VarName(j, out var name);
        if (name is null)
            return Unknown("SET", "parameter name expected");
        if (At(k, Kw.From) && W(k + 1, "current") && _t.Length == k + 2)
            return Setting("SET", name, null, local, SettingValueKind.FromCurrent);
        if (!Assigns(k))
            return Unknown("SET", "TO or = expected");
        k++;
        if (_t.Length == k + 1 && W(k, "default"))
            return Setting("SET", name, null, local, SettingValueKind.Default);
        return VarList(k, Array.IndexOf(ListQuoted, name) >= 0) is { } value
            ? Setting("SET", name, value, local)
            : Unknown("SET", "value not understood");
    }

    /// <summary>SET TIME ZONE zone_value: a string, an identifier, a number, LOCAL or DEFAULT, or INTERVAL '…'.</summary>
    private readonly StatementFacts TimeZone(int j, bool local)
    {
        if (_t.Length == j + 1 && (At(j, Kw.Local) || W(j, "default")))
            return Setting("SET", "timezone", null, local, SettingValueKind.Default);
        if (W(j, "interval"))
            return Setting("SET", "timezone", null, local, SettingValueKind.NotLiteral);   // interval_out's rendering
        if (_t.Length == j + 1 && _t[j].Kind is TokenKind.Word or TokenKind.QuotedIdent or TokenKind.UnicodeIdent)
            return _t[j].Kind != TokenKind.Word || _t[j].Flags == KwFlags.None && _t[j].Keyword == Kw.None
                ? Setting("SET", "timezone", Names.Normalize(_text, _t[j]), local)
                : Unknown("SET", "time zone name expected");
        return VarList(j, false) is { } value && !value.Contains(',', StringComparison.Ordinal)
            ? Setting("SET", "timezone", value, local)
            : Unknown("SET", "time zone expected");
    }

    /// <summary>RESET name | ALL | TIME ZONE | TRANSACTION ISOLATION LEVEL | SESSION AUTHORIZATION.</summary>
    private readonly StatementFacts Reset()
    {
        string? name;
        if (_t.Length == 2 && At(1, Kw.All))
            name = "all";
        else if (_t.Length == 3 && W(1, "time") && W(2, "zone"))
            name = "timezone";
        else if (_t.Length == 4 && At(1, Kw.Transaction) && W(2, "isolation") && W(3, "level"))
            name = "transaction_isolation";
        else if (_t.Length == 3 && At(1, Kw.Session) && At(2, Kw.Authorization))
            name = "session_authorization";
        else if (VarName(1, out name) != _t.Length)
            name = null;
        return name is null
            ? Unknown("RESET", "parameter name expected")
            : Setting("RESET", name, null, false, SettingValueKind.Default);
    }

    /// <summary>A SET/RESET's facts. Class dcl when it may take another identity (SET ROLE x, SET SESSION
    /// AUTHORIZATION x, in any spelling); session when it only returns to the login identity (RESET ROLE,
    /// SET ROLE NONE, SET SESSION AUTHORIZATION DEFAULT) or changes anything else.</summary>
    private readonly StatementFacts Setting(string command, string name, string? value, bool local,
        SettingValueKind kind = SettingValueKind.Literal)
    {
        var change = new SettingChange { Name = SettingName(name), Value = kind == SettingValueKind.Literal ? value : null, Kind = kind, IsLocal = local };
        return Simple(command, ChangesIdentity(change) ? StatementClass.Dcl : StatementClass.Session) with { Settings = [change] };
    }

    /// <summary>role "none" is the session user (check_role); DEFAULT and FROM CURRENT keep or restore the
    /// identity the session had.</summary>
    private static bool ChangesIdentity(SettingChange change) =>
        change.Kind is SettingValueKind.Literal or SettingValueKind.NotLiteral
        && (change.Name == "session_authorization" || change.Name == "role" && !(change.Kind == SettingValueKind.Literal && change.Value == "none"));

    /// <summary>The name the server looks a parameter up by: case-insensitive (guc_name_compare), old aliases mapped.</summary>
    private static string SettingName(string name)
    {
        var lower = name.AsSpan().IndexOfAnyInRange('A', 'Z') < 0 ? name : AsciiLower(name);
        return lower switch
        {
            "sort_mem" => "work_mem",
            "vacuum_mem" => "maintenance_work_mem",
            _ => lower,
        };
    }

    private static string AsciiLower(string s) => string.Create(s.Length, s, static (dst, src) =>
    {
        for (var k = 0; k < src.Length; k++)
            dst[k] = char.IsAsciiLetterUpper(src[k]) ? (char)(src[k] | 0x20) : src[k];
    });

    private readonly bool Assigns(int j) =>
        At(j, Kw.To) || At(j, TokenKind.Operator) && _t[j].Length == 1 && _text[_t[j].Start] == '=';

    /// <summary>var_name: ColId ('.' ColId)*; the index after it.</summary>
    private readonly int VarName(int j, out string? name)
    {
        name = null;
        var parts = new StringBuilder();
        while (true)
        {
            if (j >= _t.Length || !_t[j].IsName || _t[j].Kind == TokenKind.Word && (_t[j].Flags & KwFlags.AliasStop) != 0
                || Names.Normalize(_text, _t[j]) is not { } part)
                return j;
            parts.Append(part);
            j++;
            if (!At(j, TokenKind.Dot))
                break;
            parts.Append('.');
            j++;
        }
        name = parts.ToString();
        return j;
    }

    /// <summary>var_list from <paramref name="j"/> to the end, flattened as flatten_set_variable_args does.</summary>
    private readonly string? VarList(int j, bool quote)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var negative = false;
            if (At(j, TokenKind.Operator) && _t[j].Length == 1 && _text[_t[j].Start] is '+' or '-' && At(j + 1, TokenKind.Number))
                negative = _text[_t[j++].Start] == '-';
            if (j >= _t.Length)
                return null;
            ref readonly var t = ref _t[j];
            if (t.Kind == TokenKind.Number)
            {
                if (!Literals.TryNumber(_text.Slice(t.Start, t.Length), negative, out var number, out _))
                    return null;
                sb.Append(number);
            }
            else if (negative || WordOrConstant(j) is not { } text)
            {
                return null;
            }
            else
            {
                sb.Append(quote ? Literals.QuoteIdentifier(text) : text);
            }
            j++;
            if (j == _t.Length)
                return sb.ToString();
            if (!At(j, TokenKind.Comma))
                return null;
            sb.Append(", ");
            j++;
        }
    }

    /// <summary>NonReservedWord_or_Sconst, or TRUE/FALSE/ON: an identifier's name or a string constant's value.</summary>
    private readonly string? WordOrConstant(int j)
    {
        if (j >= _t.Length)
            return null;
        ref readonly var t = ref _t[j];
        if (t.Kind == TokenKind.Word && (t.Flags & KwFlags.Reserved) != 0)
            return W(j, "true") ? "true" : W(j, "false") ? "false" : W(j, "on") ? "on" : null;
        return t.IsName ? Names.Normalize(_text, t) : Constant(j);
    }

    /// <summary>A string constant's value (not followed by another one), or null.</summary>
    private readonly string? Constant(int j) =>
        j < _t.Length && !Literals.FollowedByString(_t, j) ? Literals.Value(_text, _t[j], _strings) : null;
}
