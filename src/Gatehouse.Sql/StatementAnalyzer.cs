using System.Collections.Frozen;

namespace Gatehouse.Sql;

/// <summary>
/// Facts for one statement (a token range of the split text). Recognises the command from its leading
/// keywords, lets <see cref="QueryWalker"/> find relations and functions, and classifies per SPEC §3.
/// Nested statements (EXPLAIN, PREPARE, COPY (query), CREATE TABLE AS, DECLARE) are analyzed recursively.
/// </summary>
internal ref partial struct StatementAnalyzer
{
    private const int MaxDepth = 4;

    /// <summary>Server-signalling, backup/WAL control and server-file functions: calling one makes a
    /// read/write/copy-out statement <see cref="StatementClass.Admin"/> (SPEC §3 "server-signalling functions").</summary>
    internal static readonly FrozenSet<string> AdminFunctions = FrozenSet.Create(StringComparer.Ordinal,
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
        "pg_log_backend_memory_contexts", "pg_switch_wal", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop",
        "pg_start_backup", "pg_stop_backup", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_read_file",
        "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir",
        "pg_ls_archive_statusdir", "lo_import", "lo_export", "pg_file_write", "pg_file_rename", "pg_file_unlink",
        "pg_create_logical_replication_slot", "pg_create_physical_replication_slot", "pg_drop_replication_slot");

    private readonly ReadOnlySpan<char> _text;
    private readonly ReadOnlySpan<SqlToken> _t;
    private readonly SqlSessionState _session;
    private readonly int _depth;
    private bool? _scs;

    public StatementAnalyzer(ReadOnlySpan<char> text, ReadOnlySpan<SqlToken> tokens, SqlSessionState session, int depth)
    {
        _text = text;
        _t = tokens;
        _session = session;
        _depth = depth;
    }

    private readonly int Start => _t[0].Start;

    private readonly int Length => _t[^1].End - _t[0].Start;

    public StatementFacts Analyze(out bool? scsAfter)
    {
        scsAfter = null;
        if (_t.Length == 0)
            return new StatementFacts { Start = 0, Length = 0, Command = "", Class = StatementClass.Unknown, UnknownReason = "statement expected" };
        if (_depth >= MaxDepth)
            return Unknown("", "statement nested too deeply");
        var first = _t[0];
        if (first.Kind == TokenKind.LParen)
            return Query();
        if (first.Kind != TokenKind.Word || first.Keyword == Kw.None)
            return Unknown("", "does not start with a known command");
        var facts = first.Keyword switch
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
            Kw.Fetch => Simple("FETCH", StatementClass.Read),
            Kw.Move => Simple("MOVE", StatementClass.Session),
            Kw.Close => Simple(At(1, Kw.All) ? "CLOSE CURSOR ALL" : "CLOSE CURSOR", StatementClass.Session),
            Kw.Load => Simple("LOAD", StatementClass.Admin),
            Kw.Checkpoint => Simple("CHECKPOINT", StatementClass.Admin),
            Kw.Vacuum => Simple("VACUUM", StatementClass.Admin),
            Kw.Analyze or Kw.Analyse => Simple("ANALYZE", StatementClass.Admin),
            Kw.Cluster => Simple("CLUSTER", StatementClass.Admin),
            Kw.Reindex => Simple("REINDEX", StatementClass.Admin),
            Kw.Do => Simple("DO", StatementClass.Code),
            Kw.Call => Walked("CALL", StatementClass.Code, 1, WalkMode.Query),
            Kw.Lock => NameList("LOCK TABLE", StatementClass.Write, At(1, Kw.Table) ? 2 : 1),
            Kw.Truncate => NameList("TRUNCATE TABLE", StatementClass.Write, At(1, Kw.Table) ? 2 : 1),
            Kw.Refresh when W(1, "materialized") && W(2, "view") =>
                NameList("REFRESH MATERIALIZED VIEW", StatementClass.Write, At(3, Kw.Concurrently) ? 4 : 3),
            Kw.Import when W(1, "foreign") && W(2, "schema") => Simple("IMPORT FOREIGN SCHEMA", StatementClass.Ddl),
            Kw.Reassign => Simple("REASSIGN OWNED", StatementClass.Dcl),
            Kw.Comment => Simple("COMMENT", StatementClass.Ddl),
            Kw.Security when W(1, "label") => Simple("SECURITY LABEL", StatementClass.Dcl),
            _ => Unknown("", "does not start with a known command"),
        };
        scsAfter = _scs;
        return facts;
    }

    private readonly StatementFacts Query()
    {
        var s = Scratch.Rent(_depth);
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
        return Build(command, cls, s);
    }

    private readonly StatementFacts Explain()
    {
        var j = 1;
        var analyze = false;
        if (At(1, TokenKind.LParen))
        {
            for (j = 2; j < _t.Length && _t[j].Kind != TokenKind.RParen; j++)
            {
                if (_t[j].Keyword is not (Kw.Analyze or Kw.Analyse) || _t[j - 1].Kind is not (TokenKind.LParen or TokenKind.Comma))
                    continue;
                var v = j + 1 < _t.Length ? _t[j + 1] : default;
                analyze = v.Kind is TokenKind.Comma or TokenKind.RParen
                    || (v.Length > 0 && _text.Slice(v.Start, v.Length).Trim('\'') is var value
                        && (value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("on", StringComparison.OrdinalIgnoreCase)
                            || value.Equals("yes", StringComparison.OrdinalIgnoreCase) || value.SequenceEqual("1")));
            }
            j++;
        }
        else
        {
            while (j < _t.Length && _t[j].Keyword is Kw.Analyze or Kw.Analyse or Kw.Verbose)
                analyze |= _t[j++].Keyword != Kw.Verbose;
        }
        if (j >= _t.Length)
            return Unknown("EXPLAIN", "EXPLAIN without a statement");
        var inner = Sub(j);
        if (inner.Class == StatementClass.Unknown)
            return Unknown("EXPLAIN", inner.UnknownReason ?? "inner statement not understood");
        if (inner.Command is not ("SELECT" or "SELECT INTO" or "INSERT" or "UPDATE" or "DELETE" or "MERGE" or "EXECUTE"
            or "DECLARE CURSOR" or "CREATE TABLE AS" or "CREATE MATERIALIZED VIEW"))
            return Unknown("EXPLAIN", "EXPLAIN of a statement that cannot be explained");
        if (analyze)
            return inner with { Start = Start, Length = Length, Command = "EXPLAIN" };
        // Plain EXPLAIN only plans: a read of everything the inner statement touches.
        var s = Scratch.Rent(_depth);
        foreach (var r in inner.ReadRelations) s.Add(s.Reads, r);
        foreach (var w in inner.WrittenRelations) s.Add(s.Reads, w);
        foreach (var f in inner.Functions) s.Add(s.Functions, f);
        return Build("EXPLAIN", StatementClass.Read, s, escalate: false);
    }

    private readonly StatementFacts Prepare()
    {
        if (At(1, Kw.Transaction) && At(2, TokenKind.String) && _t.Length == 3)
            return Simple("PREPARE TRANSACTION", StatementClass.Transaction);
        if (_t.Length < 4 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("PREPARE", "prepared statement name expected");
        var j = 2;
        if (At(j, TokenKind.LParen))
            j = SkipParens(j);
        if (!At(j, Kw.As) || j + 1 >= _t.Length)
            return Unknown("PREPARE", "AS expected");
        var inner = Sub(j + 1);
        if (inner.Class != StatementClass.Unknown && inner.Command is not ("SELECT" or "INSERT" or "UPDATE" or "DELETE" or "MERGE"))
            inner = inner with { Class = StatementClass.Unknown, UnknownReason = "statement cannot be prepared" };
        // The server refuses to redefine an existing name, so an existing entry stays what EXECUTE runs.
        if (!_session.TryGetPrepared(name, out _))
            _session.RegisterPrepared(name, inner);
        return inner with { Start = Start, Length = Length, Command = "PREPARE" };
    }

    private readonly StatementFacts Execute()
    {
        if (_t.Length < 2 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } name)
            return Unknown("EXECUTE", "prepared statement name expected");
        if (!_session.TryGetPrepared(name, out var prepared))
            return Unknown("EXECUTE", $"prepared statement \"{name}\" is not known to this session");
        if (prepared.Class == StatementClass.Unknown)
            return prepared with { Start = Start, Length = Length, Command = "EXECUTE" };
        var s = Scratch.Rent(_depth);
        if (_t.Length > 2)
        {
            if (!At(2, TokenKind.LParen))
                return Unknown("EXECUTE", "parameter list expected");
            QueryWalker.Walk(_text, _t[2..], s, WalkMode.Query);
        }
        s.Merge(prepared);
        s.Locking = prepared.IsLockingRead;
        return Build("EXECUTE", prepared.Class, s);
    }

    private readonly StatementFacts Deallocate()
    {
        var j = At(1, Kw.Prepare) ? 2 : 1;
        if (At(j, Kw.All) && _t.Length == j + 1)
        {
            _session.RemovePrepared(null);
            return Simple("DEALLOCATE ALL", StatementClass.Session);
        }
        if (_t.Length != j + 1 || !_t[j].IsName || Names.Normalize(_text, _t[j]) is not { } name)
            return Unknown("DEALLOCATE", "prepared statement name expected");
        _session.RemovePrepared(name);
        return Simple("DEALLOCATE", StatementClass.Session);
    }

    private readonly StatementFacts Discard()
    {
        if (_t.Length != 2)
            return Unknown("DISCARD", "DISCARD ALL|PLANS|SEQUENCES|TEMP expected");
        if (At(1, Kw.All))
        {
            _session.RemovePrepared(null);
            return Simple("DISCARD ALL", StatementClass.Session);
        }
        if (W(1, "plans")) return Simple("DISCARD PLANS", StatementClass.Session);
        if (W(1, "sequences")) return Simple("DISCARD SEQUENCES", StatementClass.Session);
        if (At(1, Kw.Temp) || At(1, Kw.Temporary)) return Simple("DISCARD TEMP", StatementClass.Session);
        return Unknown("DISCARD", "DISCARD ALL|PLANS|SEQUENCES|TEMP expected");
    }

    private readonly StatementFacts Declare()
    {
        var j = 2;
        while (j < _t.Length && !At(j, Kw.For))
            j++;
        if (j + 1 >= _t.Length)
            return Unknown("DECLARE CURSOR", "FOR query expected");
        var inner = Sub(j + 1);
        if (inner.Class != StatementClass.Unknown && inner.Command != "SELECT")
            return Unknown("DECLARE CURSOR", "a cursor's query must be a SELECT or VALUES");
        return inner with { Start = Start, Length = Length, Command = "DECLARE CURSOR" };
    }

    private readonly StatementFacts Copy()
    {
        var s = Scratch.Rent(_depth);
        var j = 1;
        StatementFacts? inner = null;
        QualifiedName table = default;
        if (At(1, TokenKind.LParen))
        {
            j = SkipParens(1);
            if (j - 1 <= 2 || _t[j - 1].Kind != TokenKind.RParen)
                return Unknown("COPY", "query expected");
            inner = new StatementAnalyzer(_text, _t[2..(j - 1)], _session, _depth + 1).Analyze(out _);
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
        var client = At(j, from ? Kw.Stdin : Kw.Stdout);
        if (!client && !At(j, Kw.Program) && !At(j, TokenKind.String) && !At(j, TokenKind.EscapeString) && !At(j, TokenKind.DollarString))
            return Unknown("COPY", "STDIN, STDOUT, a file name or PROGRAM expected");
        if (inner is null)
            s.Add(from ? s.Writes : s.Reads, table);
        if (j + 1 < _t.Length)
        {
            // COPY … FROM … WHERE condition may call functions.
            var opts = Scratch.Rent(_depth + 1);
            QueryWalker.Walk(_text, _t[(j + 1)..], opts, WalkMode.Ddl);
            if (opts.Unknown is not null)
                return Unknown("COPY", opts.Unknown);
            foreach (var f in opts.Functions) s.Add(s.Functions, f);
        }
        var cls = !client ? StatementClass.Admin
            : from ? StatementClass.Write
            : inner is { Class: StatementClass.Write or StatementClass.Admin } ? inner.Class
            : StatementClass.CopyOut;
        return Build("COPY", cls, s);
    }

    private readonly StatementFacts Walked(string command, StatementClass cls, int from, WalkMode mode)
    {
        var s = Scratch.Rent(_depth);
        if (from < _t.Length)
            QueryWalker.Walk(_text, _t[from..], s, mode);
        return Build(command, cls, s);
    }

    /// <summary>LOCK / TRUNCATE / REFRESH: a comma list of [ONLY] name [*] recorded as written.</summary>
    private readonly StatementFacts NameList(string command, StatementClass cls, int j)
    {
        var s = Scratch.Rent(_depth);
        while (true)
        {
            if (At(j, Kw.Only))
                j++;
            j = DottedName(j, out var name);
            if (name is not { } n)
                return Unknown(command, "table name expected");
            s.Add(s.Writes, n);
            if (At(j, TokenKind.Operator) && _text[_t[j].Start] == '*')
                j++;
            if (!At(j, TokenKind.Comma))
                break;
            j++;
        }
        return Build(command, cls, s);
    }
}
