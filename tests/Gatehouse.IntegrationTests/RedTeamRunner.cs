using System.Globalization;
using System.Text;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// One row of a red team table: what is sent (steps on one connection, optionally with startup parameters),
/// through which protocols and under which grant. Placeholders ({stmts}, {expr}, {role}, {secret_file}, {lo}, …)
/// are filled per set-up by <see cref="RedTeamFixture.Render"/>.
/// </summary>
public sealed record RedTeamRow(string Id, Step[] Steps)
{
    public RedTeamProtocol Protocols { get; init; } = RedTeamProtocol.Both;

    public RedTeamGrant Grant { get; init; } = RedTeamGrant.Main;

    /// <summary>Startup parameters (options, client_encoding, search_path); a refused startup is then an acceptable answer.</summary>
    public KeyValuePair<string, string>[]? Startup { get; init; }

    /// <summary>The gateway may end the session instead of answering (e.g. on an unsafe client encoding).</summary>
    public bool MayClose { get; init; }

    /// <summary>
    /// The row has no effect when sent straight to PostgreSQL: a control row, or one aimed at Gatehouse's own
    /// machinery (the refusal). The harness check that runs each row without the gateway expects nothing from it.
    /// </summary>
    public bool NoEffectWithoutGateway { get; init; }

    /// <summary>A further check on what the client saw; returns the effect in words, or null.</summary>
    public Func<IReadOnlyList<Outcome>, string?>? Saw { get; init; }

    /// <summary>For the false-positive table: the values the last step must return (joined with ","), or "affected N".</summary>
    public string? Expect { get; init; }

    public IEnumerable<RedTeamProtocol> EachProtocol() =>
        Enum.GetValues<RedTeamProtocol>().Where(p => p != RedTeamProtocol.Both && Protocols.HasFlag(p));
}

/// <summary>Opens sessions, runs a row's steps and gathers what the client saw, for both tables.</summary>
internal static class RedTeamRunner
{
    /// <summary>Longest row id: xunit shortens longer theory arguments in test names.</summary>
    public const int MaxIdLength = 48;

    public static string CaseId(RedTeamRow row, RedTeamSetup setup, RedTeamProtocol protocol) =>
        $"{row.Id} [{SetupName(setup)}/{protocol.ToString().ToLowerInvariant()}]";

    public static string SetupName(RedTeamSetup setup) => setup == RedTeamSetup.Default ? "a" : "b";

    /// <summary>One theory case per row, set-up and protocol: (row id, "a"/"b", protocol).</summary>
    public static TheoryData<string, string, RedTeamProtocol> Cases(IEnumerable<RedTeamRow> rows)
    {
        var data = new TheoryData<string, string, RedTeamProtocol>();
        foreach (var row in rows)
        {
            foreach (var setup in Enum.GetValues<RedTeamSetup>())
            {
                foreach (var protocol in row.EachProtocol())
                {
                    data.Add(row.Id, SetupName(setup), protocol);
                }
            }
        }

        return data;
    }

    public static (RedTeamRow Row, RedTeamSetup Setup) Find(IEnumerable<RedTeamRow> rows, string id, string setup) =>
        (rows.Single(r => r.Id == id), setup == "b" ? RedTeamSetup.Power : RedTeamSetup.Default);

    public static Step Render(RedTeamFixture fixture, Step step, RedTeamSetup setup) => step with
    {
        Sql = step.Sql.Select(s => fixture.Render(s, setup)).ToArray(),
        Parameters = step.Parameters?.Select(p => p is null ? null : fixture.Render(p, setup)).ToArray(),
    };

    /// <summary>
    /// Connects through the gateway with the set-up's token; or, <paramref name="direct"/>, straight to PostgreSQL as the
    /// set-up's direct role, to show what the row does when nothing stands in the way.
    /// </summary>
    public static async Task<(IProbeSession? Session, string? Refusal)> OpenAsync(
        RedTeamFixture fixture, RedTeamRow row, RedTeamSetup setup, RedTeamProtocol protocol, bool direct = false)
    {
        var token = fixture.Token(setup, row.Grant);
        var startup = row.Startup?.Select(kv => new KeyValuePair<string, string>(kv.Key, fixture.Render(kv.Value, setup)));
        int port = direct ? fixture.PostgresPort : fixture.Port;
        string user = direct ? RedTeamFixture.DirectRole(setup) : "agent";
        if (protocol == RedTeamProtocol.Extended)
        {
            var (npgsql, refusal) = await NpgsqlProbe.ConnectAsync(port, direct ? null : token, startup, user);
            return (npgsql, refusal);
        }

        var (raw, rawRefusal) = await RawProbe.ConnectAsync(port, token, startup, protocol == RedTeamProtocol.RawExtended, user);
        return (raw, rawRefusal);
    }

    /// <summary>What the session looked like after the row: did SELECT 1 work, and who is it now.</summary>
    public sealed record After(bool Usable, string? CurrentUser, string? SessionUser, string Log);

    public static async Task<After> AfterAsync(IProbeSession session)
    {
        if (session.Closed)
        {
            return new After(false, null, null, "closed");
        }

        var ping = await session.RunAsync(Step.Q("SELECT 1"));
        var log = "SELECT 1 → " + ping;
        if (ping.Errors.Any(e => e.SqlState == "25P02"))
        {
            // The row left a failed transaction open: end it as a client would, then ask again.
            await session.RunAsync(Step.Q("ROLLBACK"));
            ping = await session.RunAsync(Step.Q("SELECT 1"));
            log += "; after ROLLBACK: " + ping;
        }

        if (ping.Values is not ["1"])
        {
            return new After(false, null, null, log);
        }

        var who = await session.RunAsync(Step.Q("SELECT current_user::text, session_user::text"));
        log += "; identity → " + who;
        return who.Values is [var current, var sessionUser] ? new After(true, current, sessionUser, log) : new After(false, null, null, log);
    }

    /// <summary>
    /// psql as the client: the steps go to its stdin (raw bytes for <see cref="Step.Latin1"/> steps), followed by
    /// the after-checks. Startup parameters become PGOPTIONS / PGCLIENTENCODING.
    /// </summary>
    public static async Task<(Outcome Outcome, After After)> RunPsqlAsync(RedTeamFixture fixture, RedTeamRow row, RedTeamSetup setup, bool direct = false)
    {
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1",
            ["PGPORT"] = (direct ? fixture.PostgresPort : fixture.Port).ToString(CultureInfo.InvariantCulture),
            ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = direct ? RedTeamFixture.DirectRole(setup) : "agent",
            ["PGPASSWORD"] = direct ? "" : fixture.Token(setup, row.Grant),
            ["PGSSLMODE"] = "disable",
            ["PGCONNECT_TIMEOUT"] = "10",
        };
        foreach (var (key, value) in row.Startup ?? [])
        {
            env[key switch { "options" => "PGOPTIONS", "client_encoding" => "PGCLIENTENCODING", _ => throw new ArgumentException(key) }] = fixture.Render(value, setup);
        }

        var script = new MemoryStream();
        foreach (var step in row.Steps.Select(s => Render(fixture, s, setup)))
        {
            if (step.Kind != StepKind.Run)
            {
                throw new ArgumentException("psql rows take plain statements");
            }

            // psql meta-commands (\set …) end at the line; SQL ends at the semicolon.
            string line = step.Sql[0].StartsWith('\\') ? step.Sql[0] + "\n" : step.Sql[0].TrimEnd().TrimEnd(';') + ";\n";
            script.Write((step.Latin1 ? Encoding.Latin1 : Encoding.UTF8).GetBytes(line));
        }

        script.Write(Encoding.UTF8.GetBytes("\\echo ::after\nSELECT 'ping:' || 1;\nSELECT 'identity:' || current_user || ':' || session_user;\n"));
        using var process = ProcessRunner.Start(ProcessRunner.PostgresTool("psql", fixture.BinDirectory), ["-X", "-At", "-v", "ON_ERROR_STOP=0"], env);
        await process.StandardInput.BaseStream.WriteAsync(script.ToArray());
        process.StandardInput.Close();
        var result = await ProcessRunner.CollectAsync(process, TimeSpan.FromSeconds(30));

        var outcome = new Outcome();
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int split = Array.IndexOf(lines, "::after");
        outcome.Values.AddRange(split < 0 ? lines : lines[..split]);
        foreach (var line in result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int at = line.IndexOf("ERROR:", StringComparison.Ordinal);
            if (at >= 0)
            {
                outcome.Errors.Add(("psql", line[(at + 6)..].Trim()));
            }
            else
            {
                outcome.Notices.Add(line);
            }
        }

        var tail = split < 0 ? [] : lines[(split + 1)..];
        var identity = tail.FirstOrDefault(l => l.StartsWith("identity:", StringComparison.Ordinal))?.Split(':');
        bool usable = tail.Contains("ping:1");
        outcome.Closed = !usable && (result.Stderr.Contains("connection to server", StringComparison.Ordinal) || result.Stderr.Contains("closed the connection", StringComparison.Ordinal));
        var after = new After(usable && identity is { Length: 3 }, identity?[1], identity?[2], $"psql exit {result.ExitCode}; after: {string.Join(" | ", tail)}");
        return (outcome, after);
    }
}
