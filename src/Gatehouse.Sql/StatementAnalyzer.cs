using System.Collections.Frozen;

namespace Gatehouse.Sql;

/// <summary>
/// Facts for one statement (a token range of the split text). Recognises the command from its leading
/// keywords, lets <see cref="QueryWalker"/> find relations and functions, and classifies per SPEC §3.
/// Nested statements (EXPLAIN, PREPARE, COPY (query), CREATE TABLE AS, DECLARE, SQL given as text to
/// query_to_xml() and the like) are analyzed recursively. The session is only read; prepared statements and
/// cursors come from it or from the <see cref="SessionOverlay"/> of the query string's earlier statements.
/// </summary>
internal ref partial struct StatementAnalyzer
{
    private const int MaxDepth = 4;

    /// <summary>Server-signalling, backup/WAL, replication, statistics-reset, maintenance and server-file
    /// functions: calling one makes a statement <see cref="StatementClass.Admin"/> (SPEC §3 "server-signalling
    /// functions"). Reviewed against PostgreSQL 15's pg_proc: every function whose EXECUTE is revoked from PUBLIC
    /// (<c>proacl IS NOT NULL</c>) that acts on the server rather than reporting on it, and the functions that
    /// check superuser or REPLICATION in C (slots, collation import, backend signals).</summary>
    internal static readonly FrozenSet<string> AdminFunctions = FrozenSet.Create(StringComparer.Ordinal,
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
        "pg_log_backend_memory_contexts", "pg_switch_wal", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop",
        "pg_start_backup", "pg_stop_backup", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_read_file",
        "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir",
        "pg_ls_archive_statusdir", "pg_ls_logicalmapdir", "pg_ls_logicalsnapdir", "pg_ls_replslotdir",
        "pg_current_logfile", "pg_config", "pg_hba_file_rules", "pg_ident_file_mappings", "pg_show_all_file_settings",
        "lo_import", "lo_export", "pg_file_write", "pg_file_rename", "pg_file_unlink",
        "pg_create_logical_replication_slot", "pg_create_physical_replication_slot", "pg_drop_replication_slot",
        "pg_copy_logical_replication_slot", "pg_copy_physical_replication_slot", "pg_replication_slot_advance",
        "pg_logical_slot_get_changes", "pg_logical_slot_peek_changes", "pg_logical_slot_get_binary_changes",
        "pg_logical_slot_peek_binary_changes", "pg_logical_emit_message",
        "pg_replication_origin_advance", "pg_replication_origin_create", "pg_replication_origin_drop",
        "pg_replication_origin_oid", "pg_replication_origin_progress", "pg_replication_origin_session_is_setup",
        "pg_replication_origin_session_progress", "pg_replication_origin_session_reset",
        "pg_replication_origin_session_setup", "pg_replication_origin_xact_reset", "pg_replication_origin_xact_setup",
        "pg_show_replication_origin_status", "pg_import_system_collations",
        "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
        "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
        "pg_stat_reset_subscription_stats",
        "brin_summarize_range", "brin_summarize_new_values", "brin_desummarize_range", "gin_clean_pending_list");

    private static readonly string[] Explainable =
        ["SELECT", "SELECT INTO", "INSERT", "UPDATE", "DELETE", "MERGE", "EXECUTE", "DECLARE CURSOR", "CREATE TABLE AS", "CREATE MATERIALIZED VIEW"];

    private readonly ReadOnlySpan<char> _text;
    private readonly ReadOnlySpan<SqlToken> _t;
    private readonly SqlSessionState _session;
    private readonly SessionOverlay? _overlay;
    private readonly StringMode _strings;
    private readonly int _depth;

    public StatementAnalyzer(ReadOnlySpan<char> text, ReadOnlySpan<SqlToken> tokens, SqlSessionState session,
        SessionOverlay? overlay, StringMode strings, int depth)
    {
        _text = text;
        _t = tokens;
        _session = session;
        _overlay = overlay;
        _strings = strings;
        _depth = depth;
    }

    private readonly int Start => _t[0].Start;

    private readonly int Length => _t[^1].End - _t[0].Start;

    public readonly StatementFacts Analyze()
    {
        if (_t.Length == 0)
            return new StatementFacts { Start = 0, Length = 0, Command = "", Class = StatementClass.Unknown, UnknownReason = "statement expected" };
        if (_depth >= MaxDepth)
            return Unknown("", "statement nested too deeply");
        var first = _t[0];
        if (first.Kind == TokenKind.LParen)
            return Query();
        if (first.Kind != TokenKind.Word || first.Keyword == Kw.None)
            return Unknown("", "does not start with a known command");
        return first.Keyword switch
        {
            Kw.Select or Kw.Values or Kw.Table or Kw.With or Kw.Insert or Kw.Update or Kw.Delete or Kw.Merge => Query(),
            Kw.Explain => Explain(),
            Kw.Prepare => Prepare(),
            Kw.Execute => Execute(),
            Kw.Deallocate => Deallocate(),
            Kw.Copy => Copy(),
            Kw.Declare => Declare(),
            Kw.Create or Kw.Alter or Kw.Drop => Ddl(),
            Kw.Set => Set(),
            Kw.Reset => Reset(),
            Kw.Grant => Simple(HasBefore(Kw.On, Kw.To) ? "GRANT" : "GRANT ROLE", StatementClass.Dcl),
            Kw.Revoke => Simple(HasBefore(Kw.On, Kw.From) ? "REVOKE" : "REVOKE ROLE", StatementClass.Dcl),
            Kw.Begin => Simple("BEGIN", StatementClass.Transaction),
            Kw.Start => W(1, "transaction") ? Simple("START TRANSACTION", StatementClass.Transaction) : Unknown("", "START without TRANSACTION"),
            Kw.Commit or Kw.End => Simple(At(1, Kw.Prepared) ? "COMMIT PREPARED" : "COMMIT", StatementClass.Transaction),
            Kw.Rollback or Kw.Abort => Simple(At(1, Kw.Prepared) ? "ROLLBACK PREPARED" : "ROLLBACK", StatementClass.Transaction),
            Kw.Savepoint => Simple("SAVEPOINT", StatementClass.Transaction),
            Kw.Release => Simple("RELEASE", StatementClass.Transaction),
            Kw.Show => Simple("SHOW", StatementClass.Session),
            Kw.Discard => Discard(),
            Kw.Listen => Simple("LISTEN", StatementClass.Session),
            Kw.Unlisten => Simple("UNLISTEN", StatementClass.Session),
            Kw.Notify => Simple("NOTIFY", StatementClass.Session),
            Kw.Fetch => Fetch("FETCH"),
            Kw.Move => Fetch("MOVE"),
            Kw.Close => Close(),
            Kw.Load => Simple("LOAD", StatementClass.Admin),
            Kw.Checkpoint => Simple("CHECKPOINT", StatementClass.Admin),
            Kw.Vacuum => Simple("VACUUM", StatementClass.Admin),
            Kw.Analyze or Kw.Analyse => Simple("ANALYZE", StatementClass.Admin),
            Kw.Cluster => Simple("CLUSTER", StatementClass.Admin),
            Kw.Reindex => Simple("REINDEX", StatementClass.Admin),
            Kw.Do => Simple("DO", StatementClass.Code),
            Kw.Call => Walked("CALL", StatementClass.Code, 1, WalkMode.Query),
            Kw.Lock => Lock(),
            Kw.Truncate => Truncate(),
            Kw.Refresh when W(1, "materialized") && W(2, "view") => Refresh(),
            Kw.Import when W(1, "foreign") && W(2, "schema") => Simple("IMPORT FOREIGN SCHEMA", StatementClass.Ddl),
            Kw.Reassign => Simple("REASSIGN OWNED", StatementClass.Dcl),
            Kw.Comment => Simple("COMMENT", StatementClass.Ddl),
            Kw.Security when W(1, "label") => Simple("SECURITY LABEL", StatementClass.Dcl),
            _ => Unknown("", "does not start with a known command"),
        };
    }

    private readonly StatementFacts Query()
    {
        var s = Rent();
        QueryWalker.Walk(_text, _t, s, WalkMode.Query);
        var command = s.MainHead switch
        {
            Kw.Select or Kw.Values or Kw.Table => s.SelectInto ? "SELECT INTO" : "SELECT",
            Kw.Insert => "INSERT",
            Kw.Update => "UPDATE",
            Kw.Delete => "DELETE",
            Kw.Merge => "MERGE",
            _ => "",
        };
        if (s.Unknown is null && command.Length == 0)
            s.Fail("no main statement");
        var cls = s.SelectInto ? StatementClass.Ddl : s.Dml || s.Locking ? StatementClass.Write : StatementClass.Read;
        if (s.SelectInto)
            s.AddCommand("CREATE TABLE AS");   // the server runs SELECT … INTO as CREATE TABLE … AS
        return Build(command, cls, s);
    }

    /// <summary>
    /// EXPLAIN [ ( option [, …] ) | ANALYZE [VERBOSE] | VERBOSE ] statement. The inner statement runs when
    /// ANALYZE is on; then, and whenever the option list is not fully understood, the EXPLAIN's facts are the
    /// inner statement's. Only a plain EXPLAIN (plans, runs nothing) is a read of everything the inner one touches.
    /// </summary>
    private readonly StatementFacts Explain()
    {
        var j = 1;
        var executes = false;
        if (At(1, TokenKind.LParen))
        {
            j = ExplainOptions(2, out executes);
            if (j < 0)
            {
                executes = true;
                j = SkipParens(1);
            }
        }
        else
        {
            while (j < _t.Length && _t[j].Keyword is Kw.Analyze or Kw.Analyse or Kw.Verbose)
                executes |= _t[j++].Keyword != Kw.Verbose;
        }
        if (j >= _t.Length)
            return Unknown("EXPLAIN", "EXPLAIN without a statement");
        var inner = Sub(j);
        if (inner.Class == StatementClass.Unknown)
            return Unknown("EXPLAIN", inner.UnknownReason ?? "inner statement not understood");
        if (Array.IndexOf(Explainable, inner.Command) < 0)
            return Unknown("EXPLAIN", "EXPLAIN of a statement that cannot be explained");
        if (executes)
            return inner with { Start = Start, Length = Length, Command = "EXPLAIN", Commands = Scratch.CommandList("EXPLAIN", inner.Commands), Effects = [] };
        var s = Rent();
        foreach (var r in inner.ReadRelations) s.Add(s.Reads, r);
        foreach (var w in inner.WrittenRelations) s.Add(s.Reads, w);
        foreach (var f in inner.Functions) s.Add(s.Functions, f);
        foreach (var f in inner.AttributeCalls) s.Add(s.AttributeCalls, f);
        return Build("EXPLAIN", StatementClass.Read, s, escalate: false);
    }

    /// <summary>
    /// The option list of EXPLAIN ( … ) from its first option at <paramref name="j"/>, read as ExplainQuery reads it:
    /// option names are identifiers (quoted names keep their case, so "ANALYZE" is not analyze); a boolean value is
    /// absent (true), or defGetBoolean's true/false/on/off (any case, as a word, quoted identifier or any string
    /// constant) or the integer 0/1 (001, +1). Returns the index after ")", or -1 when any option or value is not
    /// one the server accepts as written, or not known to the analyzer.
    /// </summary>
    private readonly int ExplainOptions(int j, out bool analyze)
    {
        analyze = false;
        while (true)
        {
            if (j >= _t.Length)
                return -1;
            ref readonly var nameToken = ref _t[j];
            string? name;
            if (nameToken.Keyword is Kw.Analyze or Kw.Analyse)
                name = "analyze";
            else if (nameToken.Kind == TokenKind.Word && (nameToken.Flags & KwFlags.Reserved) != 0)
                return -1;
            else
                name = Names.Normalize(_text, nameToken);
            if (name is null)
                return -1;
            var v = ++j;
            while (j < _t.Length && _t[j].Kind is not (TokenKind.Comma or TokenKind.RParen))
                j++;
            if (j >= _t.Length || !OptionValue(v, j, out var text, out var integer))
                return -1;
            switch (name)
            {
                case "analyze":
                    if (Boolean(v == j, text, integer) is not { } on)
                        return -1;
                    analyze |= on;
                    break;
                case "verbose" or "costs" or "settings" or "buffers" or "wal" or "timing" or "summary" or "generic_plan":
                    if (Boolean(v == j, text, integer) is null)
                        return -1;
                    break;
                case "format":
                    if (text is not ("text" or "xml" or "json" or "yaml"))
                        return -1;
                    break;
                default:
                    return -1;
            }
            if (_t[j].Kind == TokenKind.RParen)
                return j + 1;
            j++;
        }
    }

    /// <summary>An option value (tokens [from, to)): a word, quoted identifier or string constant
    /// (<paramref name="text"/>), or a signed number (<paramref name="integer"/> when it is an Iconst).</summary>
    private readonly bool OptionValue(int from, int to, out string? text, out long? integer)
    {
        text = null;
        integer = null;
        if (to == from)
            return true;
        ref readonly var t = ref _t[from];
        var negative = false;
        if (to - from == 2 && t.Kind == TokenKind.Operator && _text[t.Start] is '+' or '-' && t.Length == 1 && _t[from + 1].Kind == TokenKind.Number)
        {
            negative = _text[t.Start] == '-';
            t = ref _t[from + 1];
        }
        else if (to - from != 1)
        {
            return false;
        }
        switch (t.Kind)
        {
            case TokenKind.Number:
                if (!Literals.TryNumber(_text.Slice(t.Start, t.Length), negative, out var number, out integer))
                    return false;
                text = integer is null ? number : null;
                return true;
            case TokenKind.Word:
                text = Names.Normalize(_text, t);
                return (t.Flags & KwFlags.Reserved) == 0 || text is "true" or "false" or "on";
            case TokenKind.QuotedIdent or TokenKind.UnicodeIdent:
                text = Names.Normalize(_text, t);
                return text is not null;
            default:
                text = Literals.Value(_text, t, _strings);
                return text is not null;
        }
    }

    /// <summary>defGetBoolean(): no value is true; the integers 0 and 1; "true", "false", "on", "off" in any case.</summary>
    private static bool? Boolean(bool none, string? text, long? integer)
    {
        if (none)
            return true;
        if (integer is { } i)
            return i switch { 0 => false, 1 => true, _ => null };
        if (text is null)
            return null;
        if (text.Equals("true", StringComparison.OrdinalIgnoreCase) || text.Equals("on", StringComparison.OrdinalIgnoreCase))
            return true;
        if (text.Equals("false", StringComparison.OrdinalIgnoreCase) || text.Equals("off", StringComparison.OrdinalIgnoreCase))
            return false;
        return null;
    }

    private readonly StatementFacts Prepare()
    {
        if (At(1, Kw.Transaction) && At(2, TokenKind.String) && _t.Length == 3)
            return Simple("PREPARE TRANSACTION", StatementClass.Transaction);
        if (_t.Length < 4 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("PREPARE", "prepared statement name expected");
        var j = 2;
        string types = "";
        if (At(j, TokenKind.LParen))
        {
            j = SkipParens(j);
            types = _text.Slice(_t[2].Start, _t[j - 1].End - _t[2].Start).ToString();
        }
        if (!At(j, Kw.As) || j + 1 >= _t.Length)
            return Unknown("PREPARE", "AS expected");
        var inner = Sub(j + 1);
        if (inner.Class != StatementClass.Unknown && inner.Command is not ("SELECT" or "INSERT" or "UPDATE" or "DELETE" or "MERGE"))
            inner = inner with { Class = StatementClass.Unknown, UnknownReason = "statement cannot be prepared" };
        // The declared types are part of what runs: '%-x' read as "char" is '%' (a red team had a reviewed
        // EXECUTE p('%-x') delete every row), so a review shows and fingerprints them with the text.
        var prepared = inner with { PreparedText = _text.Slice(inner.Start, inner.Length).ToString() + StatementFacts.DeclaredTypesNote(types) };
        return inner with
        {
            Start = Start, Length = Length, Command = "PREPARE", Commands = Scratch.CommandList("PREPARE", inner.Commands),
            Effects = [new SessionEffect.Prepare(name, prepared)],
        };
    }

    private readonly StatementFacts Execute()
    {
        if (_t.Length < 2 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("EXECUTE", "prepared statement name expected");
        if (!SessionOverlay.TryGetPrepared(_session, _overlay, name, out var prepared))
            return Unknown("EXECUTE", _session.BeingRedefined(name)
                ? $"prepared statement \"{name}\" is being closed or prepared again by messages the server has not answered yet: EXECUTE it once their Sync is answered"
                : _session.MaybeRedefined(name, cursor: false)
                ? $"prepared statement \"{name}\" may have been redefined by code Gatehouse does not read (a DO block, a user function, a trigger) since it was prepared: in a session with masks, or once such code ran, EXECUTE runs a statement only until another statement runs; DEALLOCATE it and PREPARE it again, or use the extended protocol"
                : $"prepared statement \"{name}\" is not known to this session");
        if (prepared.Class == StatementClass.Unknown)
            return prepared with
            {
                Start = Start, Length = Length, Command = "EXECUTE", Commands = Scratch.CommandList("EXECUTE", prepared.Commands), Effects = [],
                Runs = prepared.PreparedText, PreparedText = null, Executes = name,
            };
        var s = Rent();
        if (_t.Length > 2)
        {
            if (!At(2, TokenKind.LParen) || SkipParens(2) != _t.Length)
                return Unknown("EXECUTE", "parameter list expected");
            QueryWalker.Walk(_text, _t[2..], s, WalkMode.Query);
        }
        s.Merge(prepared);
        return Build("EXECUTE", prepared.Class, s) with { Runs = prepared.PreparedText, Executes = name };
    }

    private readonly StatementFacts Deallocate()
    {
        var j = At(1, Kw.Prepare) ? 2 : 1;
        if (At(j, Kw.All) && _t.Length == j + 1)
            return Simple("DEALLOCATE ALL", StatementClass.Session) with { Effects = [new SessionEffect.Deallocate(null)] };
        if (_t.Length != j + 1 || !_t[j].IsName || Names.Normalize(_text, _t[j]) is not { } name)
            return Unknown("DEALLOCATE", "prepared statement name expected");
        return Simple("DEALLOCATE", StatementClass.Session) with { Effects = [new SessionEffect.Deallocate(name)] };
    }

    private readonly StatementFacts Discard()
    {
        if (_t.Length != 2)
            return Unknown("DISCARD", "DISCARD ALL|PLANS|SEQUENCES|TEMP expected");
        if (At(1, Kw.All))
        {
            // CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; … (discard.c)
            return Simple("DISCARD ALL", StatementClass.Session) with
            {
                Effects = [new SessionEffect.Deallocate(null), new SessionEffect.CloseCursor(null)],
                Settings =
                [
                    new SettingChange { Name = "session_authorization", Kind = SettingValueKind.Default },
                    new SettingChange { Name = "all", Kind = SettingValueKind.Default },
                ],
            };
        }
        if (W(1, "plans")) return Simple("DISCARD PLANS", StatementClass.Session);
        if (W(1, "sequences")) return Simple("DISCARD SEQUENCES", StatementClass.Session);
        if (At(1, Kw.Temp) || At(1, Kw.Temporary)) return Simple("DISCARD TEMP", StatementClass.Session);
        return Unknown("DISCARD", "DISCARD ALL|PLANS|SEQUENCES|TEMP expected");
    }

    /// <summary>DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query.</summary>
    private readonly StatementFacts Declare()
    {
        if (_t.Length < 2 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("DECLARE CURSOR", "cursor name expected");
        var j = 2;
        for (; j < _t.Length && !At(j, Kw.For); j++)
            if (!(W(j, "binary") || W(j, "asensitive") || W(j, "insensitive") || At(j, Kw.No) || W(j, "scroll") || W(j, "cursor")
                || At(j, Kw.With) || W(j, "without") || W(j, "hold")))
                return Unknown("DECLARE CURSOR", "cursor options expected");
        if (j + 1 >= _t.Length)
            return Unknown("DECLARE CURSOR", "FOR query expected");
        var inner = Sub(j + 1);
        if (inner.Class != StatementClass.Unknown && inner.Command != "SELECT")
            return Unknown("DECLARE CURSOR", "a cursor's query must be a SELECT or VALUES");
        return inner with
        {
            Start = Start, Length = Length, Command = "DECLARE CURSOR", Commands = Scratch.CommandList("DECLARE CURSOR", inner.Commands),
            Effects = [new SessionEffect.DeclareCursor(name, inner)],
        };
    }

    /// <summary>FETCH | MOVE [direction] [FROM | IN] cursor: runs the cursor's query for the rows it steps over,
    /// so it has the facts of the query the session declared the cursor for.</summary>
    private readonly StatementFacts Fetch(string command)
    {
        ref readonly var last = ref _t[^1];
        if (_t.Length < 2 || !last.IsName || last.Kind == TokenKind.Word && (last.Flags & KwFlags.Reserved) != 0
            || Names.Normalize(_text, last) is not { } name)
            return Unknown(command, "cursor name expected");
        for (var j = 1; j < _t.Length - 1; j++)
            if (_t[j].Kind is not (TokenKind.Word or TokenKind.Number)
                && !(_t[j].Kind == TokenKind.Operator && _t[j].Length == 1 && _text[_t[j].Start] is '+' or '-'))
                return Unknown(command, "FETCH direction expected");
        return Cursor(name, out var cursor) is { } reason
            ? Unknown(command, reason)
            : cursor with { Start = Start, Length = Length, Command = command, Commands = Scratch.CommandList(command, cursor.Commands), Effects = [] };
    }

    private readonly string? Cursor(string name, out StatementFacts facts)
    {
        if (!SessionOverlay.TryGetCursor(_session, _overlay, name, out facts))
            return _session.MaybeRedefined(name, cursor: true)
                ? $"cursor \"{name}\" may have been replaced by code Gatehouse does not read (a DO block or a user function) that ran since it was declared; CLOSE it and DECLARE it again"
                : $"cursor \"{name}\" is not declared in this session";
        return facts.Class == StatementClass.Unknown ? facts.UnknownReason ?? "cursor's query not understood" : null;
    }

    private readonly StatementFacts Close()
    {
        if (At(1, Kw.All) && _t.Length == 2)
            return Simple("CLOSE CURSOR ALL", StatementClass.Session) with { Effects = [new SessionEffect.CloseCursor(null)] };
        if (_t.Length != 2 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("CLOSE CURSOR", "cursor name expected");
        return Simple("CLOSE CURSOR", StatementClass.Session) with { Effects = [new SessionEffect.CloseCursor(name)] };
    }

    private readonly StatementFacts Copy()
    {
        var s = Rent();
        var j = 1;
        StatementFacts? inner = null;
        QualifiedName table = default;
        if (At(1, TokenKind.LParen))
        {
            j = SkipParens(1);
            if (j - 1 <= 2 || _t[j - 1].Kind != TokenKind.RParen)
                return Unknown("COPY", "query expected");
            inner = new StatementAnalyzer(_text, _t[2..(j - 1)], _session, _overlay, _strings, _depth + 1).Analyze();
            if (inner.Class == StatementClass.Unknown)
                return Unknown("COPY", inner.UnknownReason ?? "query not understood");
            if (inner.Command is not ("SELECT" or "INSERT" or "UPDATE" or "DELETE" or "MERGE"))
                return Unknown("COPY", "COPY of a statement that returns no rows");
            s.Merge(inner);
        }
        else
        {
            j = DottedName(1, out var name);
            if (name is not { } n)
                return Unknown("COPY", "table name expected");
            table = n;
            if (At(j, TokenKind.LParen))
                j = SkipParens(j);
        }
        var from = At(j, Kw.From);
        if (!from && !At(j, Kw.To))
            return Unknown("COPY", "FROM or TO expected");
        if (from && inner is not null)
            return Unknown("COPY", "COPY (query) FROM is not valid");
        j++;
        var client = At(j, Kw.Stdin) || At(j, Kw.Stdout);   // either word means the client, in both directions (gram.y copy_file_name)
        if (!client && !At(j, Kw.Program) && !At(j, TokenKind.String) && !At(j, TokenKind.EscapeString) && !At(j, TokenKind.DollarString))
            return Unknown("COPY", "STDIN, STDOUT, a file name or PROGRAM expected");
        if (inner is null)
            s.Add(from ? s.Writes : s.Reads, table);
        if (j + 1 < _t.Length)
            QueryWalker.Walk(_text, _t[(j + 1)..], s, WalkMode.Ddl);   // COPY … FROM … WHERE condition may call functions
        var cls = !client ? StatementClass.Admin
            : from ? StatementClass.Write
            : Join(StatementClass.CopyOut, inner?.Class ?? StatementClass.Read);
        return Build("COPY", cls, s);
    }

    private readonly StatementFacts Walked(string command, StatementClass cls, int from, WalkMode mode)
    {
        var s = Rent();
        if (from < _t.Length)
            QueryWalker.Walk(_text, _t[from..], s, mode);
        return Build(command, cls, s);
    }

    /// <summary>LOCK [TABLE] [ONLY] name [*] [, …] [IN lockmode MODE] [NOWAIT]. ACCESS SHARE (what pg_dump takes)
    /// only keeps the tables from being dropped or altered meanwhile: a read. Any other mode, or none (ACCESS
    /// EXCLUSIVE), blocks or is meant to block writers: a write.</summary>
    private readonly StatementFacts Lock()
    {
        var s = Rent();
        if (!RelationList(At(1, Kw.Table) ? 2 : 1, s, out var j))
            return Unknown("LOCK TABLE", "table name expected");
        var mode = "access exclusive";
        if (W(j, "in"))
        {
            var from = ++j;
            while (j < _t.Length && !W(j, "mode"))
                j++;
            if (j >= _t.Length || j == from)
                return Unknown("LOCK TABLE", "IN lockmode MODE expected");
            mode = "";
            for (var k = from; k < j; k++)
                mode += (k > from ? " " : "") + (_t[k].Kind == TokenKind.Word ? Lower(k) : "?");
            j++;
        }
        if (W(j, "nowait"))
            j++;
        if (j != _t.Length || mode is not ("access share" or "row share" or "row exclusive" or "share update exclusive"
            or "share" or "share row exclusive" or "exclusive" or "access exclusive"))
            return Unknown("LOCK TABLE", "IN lockmode MODE [NOWAIT] expected");
        if (mode != "access share")
            return Build("LOCK TABLE", StatementClass.Write, s);
        foreach (var w in s.Writes)
            s.Add(s.Reads, w);
        s.Writes.Clear();
        return Build("LOCK TABLE", StatementClass.Read, s);
    }

    /// <summary>TRUNCATE [TABLE] [ONLY] name [*] [, …] [RESTART | CONTINUE IDENTITY] [CASCADE | RESTRICT]:
    /// CASCADE also empties every table that references one of them.</summary>
    private readonly StatementFacts Truncate()
    {
        var s = Rent();
        if (!RelationList(At(1, Kw.Table) ? 2 : 1, s, out var j))
            return Unknown("TRUNCATE TABLE", "table name expected");
        if ((W(j, "restart") || W(j, "continue")) && W(j + 1, "identity"))
            j += 2;
        if (W(j, "cascade"))
        {
            s.WritesUnlisted = true;
            j++;
        }
        else if (W(j, "restrict"))
        {
            j++;
        }
        if (j != _t.Length)
            return Unknown("TRUNCATE TABLE", "RESTART IDENTITY, CONTINUE IDENTITY, CASCADE or RESTRICT expected");
        return Build("TRUNCATE TABLE", StatementClass.Write, s);
    }

    /// <summary>REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA].</summary>
    private readonly StatementFacts Refresh()
    {
        var s = Rent();
        if (!RelationList(At(3, Kw.Concurrently) ? 4 : 3, s, out var j) || s.Writes.Count != 1)
            return Unknown("REFRESH MATERIALIZED VIEW", "materialized view name expected");
        if (At(j, Kw.With))
            j += At(j + 1, Kw.No) ? 3 : 2;
        if (j != _t.Length)
            return Unknown("REFRESH MATERIALIZED VIEW", "WITH [NO] DATA expected");
        return Build("REFRESH MATERIALIZED VIEW", StatementClass.Write, s);
    }

    /// <summary>A comma list of [ONLY] name [*], recorded as written; <paramref name="end"/>: the index after it.</summary>
    private readonly bool RelationList(int j, Scratch s, out int end)
    {
        while (true)
        {
            if (At(j, Kw.Only))
                j++;
            j = DottedName(j, out var name);
            if (name is not { } n)
            {
                end = j;
                return false;
            }
            s.Add(s.Writes, n);
            if (At(j, TokenKind.Operator) && _t[j].Length == 1 && _text[_t[j].Start] == '*')
                j++;
            if (!At(j, TokenKind.Comma))
                break;
            j++;
        }
        end = j;
        return true;
    }
}
