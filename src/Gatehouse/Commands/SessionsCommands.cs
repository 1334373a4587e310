using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gatehouse.Audit;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Gatehouse.Commands;

/// <summary>`gatehouse sessions list|show|replay`: the audit trail's sessions, read from the state store of --config.</summary>
internal static class SessionsCommands
{
    public static Command Create() => new("sessions", "Read the audit trail: sessions, their statements, what the agent saw.") { List(), Show(), Replay() };

    private static Command List()
    {
        var config = CommandSupport.ConfigOption();
        var identity = new Option<string>("--identity") { Description = "only sessions of this token subject" };
        var target = new Option<string>("--target") { Description = "only sessions to this target" };
        var since = new Option<string>("--since") { Description = "only sessions that started at or after this time: ISO-8601 or a duration back from now (2h, 7d)" };
        var until = new Option<string>("--until") { Description = "only sessions that started before this time (same forms as --since)" };
        var decision = new Option<string>("--decision") { Description = "only sessions with a statement decided so" };
        decision.AcceptOnlyFromAmong("allow", "deny", "review");
        var text = new Option<string>("--text") { Description = "only sessions with a statement whose SQL contains this text (case-insensitive)" };
        var limit = new Option<int>("--limit") { Description = "at most this many sessions, the latest that match", DefaultValueFactory = _ => 50 };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var command = new Command("list", "List sessions of the audit trail, oldest first (the latest --limit that match).")
        {
            config, identity, target, since, until, decision, text, limit, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            const string verb = "sessions list";
            if (parse.GetValue(limit) is var max && max <= 0)
            {
                return TrailSupport.Usage(verb, "--limit must be at least 1");
            }

            if (!TrailSupport.ReadTime(verb, "--since", parse.GetValue(since), out var from) || !TrailSupport.ReadTime(verb, "--until", parse.GetValue(until), out var to))
            {
                return CommandSupport.ExitUsage;
            }

            var filter = new SessionFilter
            {
                Identity = parse.GetValue(identity), Target = parse.GetValue(target), Since = from, Until = to,
                Decision = parse.GetValue(decision), Text = parse.GetValue(text), Limit = max,
            };
            if (filter.RangeProblem("--since", "--until") is { } reversed)
            {
                return TrailSupport.Usage(verb, reversed);
            }

            return await WithReaderAsync(parse, config, verb, async reader =>
            {
                var sessions = await reader.ListAsync(filter, ct);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(sessions, AuditViewJson.Default.IReadOnlyListSessionSummary));
                    return CommandSupport.ExitOk;
                }

                var table = new Table().AddColumns("session", "started", "ended", "subject", "target", "client", "statements", "denied", "review", "errors");
                foreach (var s in sessions)
                {
                    table.AddRow(
                        TrailSupport.Cell(s.Session), TrailSupport.Cell(TrailSupport.Time(s.Started)), TrailSupport.Cell(s.Ended is { } e ? TrailSupport.Time(e) : "open"),
                        TrailSupport.Cell(s.Start.Identity.Subject), TrailSupport.Cell(s.Start.Target), TrailSupport.Cell(s.Start.Client),
                        Number(s.Statements), Number(s.Denied), Number(s.Reviewed), Number(s.Errors));
                }

                var console = TrailSupport.Terminal();
                console.Write(table);
                console.WriteLine($"{sessions.Count} session(s)");
                return CommandSupport.ExitOk;
            });
        });
        return command;
    }

    private static Command Show()
    {
        var config = CommandSupport.ConfigOption();
        var id = new Argument<string>("ID") { Description = "the session id (from sessions list)" };
        var json = new Option<bool>("--json") { Description = "print JSON instead of tables" };
        var command = new Command("show", "Show one session: who, where, and its statements in order with decisions, masks and outcomes.") { id, config, json };
        command.SetAction(async (parse, ct) =>
        {
            const string verb = "sessions show";
            return await WithReaderAsync(parse, config, verb, async reader =>
            {
                string session = parse.GetValue(id)!;
                var detail = await reader.ShowAsync(session, ct);
                if (detail is null)
                {
                    return TrailSupport.Fail(verb, $"no session {session} in the trail");
                }

                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(detail, AuditViewJson.Default.SessionDetail));
                    return CommandSupport.ExitOk;
                }

                var console = TrailSupport.Terminal();
                console.Write(Header(detail.Summary));
                console.Write(Statements(detail.Statements));
                return CommandSupport.ExitOk;
            });
        });
        return command;
    }

    private static Command Replay()
    {
        var config = CommandSupport.ConfigOption();
        var id = new Argument<string>("ID") { Description = "the session id (from sessions list)" };
        var speed = new Option<double>("--speed")
        {
            Description = "follow the original timing, this many times faster (1 = as recorded, 2 = twice as fast); 0 = no waiting",
            DefaultValueFactory = _ => 0,
        };
        var json = new Option<bool>("--json") { Description = "print the session's records as one JSON array (no waiting)" };
        var command = new Command("replay", "Replay a session: what the agent sent and what it got back (rows too, when its grant records them), in order, with times.")
        {
            id, config, speed, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            const string verb = "sessions replay";
            double factor = parse.GetValue(speed);
            if (factor < 0 || double.IsNaN(factor) || double.IsInfinity(factor))
            {
                return TrailSupport.Usage(verb, "--speed must be 0 (no waiting) or a positive factor");
            }

            return await WithReaderAsync(parse, config, verb, async reader =>
            {
                string session = parse.GetValue(id)!;
                if (parse.GetValue(json))
                {
                    var events = new List<SessionEvent>();
                    await foreach (var e in reader.EventsAsync(session, ct))
                    {
                        events.Add(e);
                    }

                    if (events.Count == 0)
                    {
                        return TrailSupport.Fail(verb, $"no session {session} in the trail");
                    }

                    Console.WriteLine(JsonSerializer.Serialize<IReadOnlyList<SessionEvent>>(events, AuditViewJson.Default.IReadOnlyListSessionEvent));
                    return CommandSupport.ExitOk;
                }

                var console = TrailSupport.Terminal();
                DateTimeOffset? first = null, previous = null;
                await foreach (var e in reader.EventsAsync(session, ct))
                {
                    if (factor > 0 && previous is { } last && e.Time > last)
                    {
                        await Task.Delay((e.Time - last) / factor, ct);
                    }

                    first ??= e.Time;
                    previous = e.Time;
                    console.Write(ReplayLine(e, e.Time - first.Value));
                    if (e.Received?.Result is { } result)
                    {
                        console.Write(ResultTable(result));
                    }
                }

                return first is null ? TrailSupport.Fail(verb, $"no session {session} in the trail") : CommandSupport.ExitOk;
            });
        });
        return command;
    }

    private static async Task<int> WithReaderAsync(ParseResult parse, Option<FileInfo> config, string verb, Func<AuditReader, Task<int>> read)
    {
        var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
        if (gatewayConfig is null)
        {
            return CommandSupport.ExitUsage;
        }

        await using var store = await TrailSupport.OpenAsync(gatewayConfig, verb);
        if (store is null)
        {
            return CommandSupport.ExitFailure;
        }

        try
        {
            return await read(new AuditReader(store.Audit));
        }
        catch (AuditReadException ex)
        {
            return TrailSupport.Fail(verb, ex.Message);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException)
        {
            return TrailSupport.Fail(verb, $"state: cannot read the trail: {ex.Message}");
        }
    }

    private static Text Number(long value) => new(value.ToString(CultureInfo.InvariantCulture));

    private static Grid Header(SessionSummary s)
    {
        var identity = s.Start.Identity;
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        void Row(string name, string? value) => grid.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), TrailSupport.Cell(value ?? "-"));
        Row("session", s.Session);
        Row("started", TrailSupport.Time(s.Started));
        Row("ended", s.Ended is { } e ? $"{TrailSupport.Time(e)}{(s.EndReason is null ? "" : $" ({s.EndReason})")}" : "open (no session.end record)");
        Row("subject", identity.Subject);
        Row("issuer", identity.Issuer);
        Row("client id", identity.ClientId);
        Row("name", identity.Name);
        Row("groups", identity.Groups.Count == 0 ? null : string.Join(", ", identity.Groups));
        Row("token id", identity.TokenId);
        Row("token sha256", identity.TokenSha256);
        Row("target", s.Start.Target);
        Row("upstream role", s.Start.UpstreamRole);
        Row("client", s.Start.Client);
        Row("tls", s.Start.Tls);
        Row("front door", s.Start.FrontDoor);
        Row("chain", s.Chain);
        Row("statements", $"{s.Statements} ({s.Allowed} allowed, {s.Denied} denied, {s.Reviewed} review; {s.Errors} failed)");
        return grid;
    }

    private static Table Statements(IReadOnlyList<StatementView> statements)
    {
        var table = new Table().AddColumns("#", "time", "sql", "decision", "rule / reason", "masked", "outcome");
        foreach (var s in statements)
        {
            var r = s.Statement;
            var masked = s.Outcomes.SelectMany(o => o.Outcome.MaskedColumns).Distinct(StringComparer.Ordinal).ToList();
            table.AddRow(
                Number(r.Statement), TrailSupport.Cell(TrailSupport.Time(s.Time)), TrailSupport.Cell(r.Prepared is null ? r.Sql : $"[{r.Prepared}] {r.Sql}"),
                TrailSupport.Cell(r.Decision, r.Decision == "allow" ? Style.Plain : new Style(Color.Red)),
                TrailSupport.Cell(r.Rule is null ? r.Reason : $"{r.Rule}: {r.Reason}"),
                TrailSupport.Cell(masked.Count == 0 ? "" : string.Join(", ", masked)),
                Outcomes(r, s.Outcomes));
        }

        return table;
    }

    private static IRenderable Outcomes(StatementRecord statement, IReadOnlyList<OutcomeView> outcomes)
    {
        if (statement.SqlState is not null)
        {
            return TrailSupport.Cell($"refused {statement.SqlState} {statement.Message}", new Style(Color.Red));
        }

        if (outcomes.Count == 0)
        {
            return TrailSupport.Cell("(no outcome recorded)");
        }

        return new Rows(outcomes.Select(o => (IRenderable)TrailSupport.Cell(OutcomeText(o.Outcome), o.Outcome.Succeeded ? Style.Plain : new Style(Color.Red))));
    }

    private static string OutcomeText(OutcomeRecord o)
    {
        string result = o.Succeeded
            ? $"{o.CommandTag ?? "ok"}{(o.Rows is { } rows ? $" ({rows} {(rows == 1 ? "row" : "rows")})" : "")}"
            : $"ERROR {o.SqlState} {o.Message}";
        string parameters = o.Parameters is { Count: > 0 } p ? $" params [{string.Join(", ", p.Select(v => v ?? "NULL"))}]" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{result} {o.DurationMs:0.###} ms{parameters}");
    }

    // A replay on a terminal shows the first rows of a recorded result, each value cut; --json has them all.
    private const int ShownRows = 20;
    private const int ShownChars = 60;

    private static IRenderable ResultTable(AuditResult result)
    {
        var masked = result.MaskedColumns.ToHashSet(StringComparer.Ordinal);
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in result.Columns)
        {
            table.AddColumn(new TableColumn(TrailSupport.Cell(masked.Contains(column) ? column + " (masked)" : column)));
        }

        string Shown(string? value) => value is null ? "NULL" : value.Length <= ShownChars ? value : string.Concat(value.AsSpan(0, ShownChars), "…");
        foreach (var row in result.Rows.Take(ShownRows))
        {
            if (row.Count == result.Columns.Count && row.Count > 0)
            {
                table.AddRow(row.Select(v => (IRenderable)TrailSupport.Cell(Shown(v), v is null ? new Style(decoration: Decoration.Dim) : Style.Plain)).ToArray());
            }
        }

        var notes = new List<string>();
        if (result.Rows.Count > ShownRows)
        {
            notes.Add($"{result.Rows.Count - ShownRows} more recorded row(s): see --json");
        }

        if (result.Truncated)
        {
            notes.Add("truncated: the client got more than the grant's audit bounds keep");
        }

        var note = new Text(notes.Count == 0 ? "" : "   " + string.Join("; ", notes) + "\n", new Style(decoration: Decoration.Dim));
        return result.Columns.Count == 0 ? note : new Rows(new Padder(table, new Padding(4, 0, 0, 0)), note);
    }

    private static Text ReplayLine(SessionEvent e, TimeSpan offset)
    {
        static string V(string? text) => TrailSupport.Visible(text);
        string at = string.Create(CultureInfo.InvariantCulture, $"+{offset.TotalSeconds,9:0.000}s ");
        string line = e switch
        {
            { Start: { } s } => $"session {V(s.Session)} started: {V(s.Identity.Subject)} ({V(s.Identity.Issuer)}) to {V(s.Target)} as {V(s.UpstreamRole)} from {V(s.Client ?? "-")}",
            { Sent: { } s } => $"→ [{s.Statement}] {(s.Prepared is null ? "" : $"({V(s.Prepared)}) ")}{V(s.Sql)}   -- {V(s.Decision)}{(s.Rule is null ? "" : $" by {V(s.Rule)}")}"
                + (s.SqlState is null ? "" : $"\n{new string(' ', at.Length)}← [{s.Statement}] ERROR {V(s.SqlState)} {V(s.Message)}"),
            { Received: { } o } => $"← [{o.Statement}] {V(OutcomeText(o))}",
            { End: { } end } => $"session ended after {end.Statements} statement(s){(end.Reason is null ? "" : $": {V(end.Reason)}")}",
            _ => V(e.Kind),
        };
        return new Text(at + line + "\n");
    }
}
