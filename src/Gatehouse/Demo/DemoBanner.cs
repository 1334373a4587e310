using System.Text;

namespace Gatehouse.Demo;

/// <summary>
/// What the demo prints once everything is up. Tests and the README's docs test read it: the line that starts with
/// <c>PGPASSWORD=</c> is the psql command, the <c>files</c> line names the temp folder.
/// Features that do not exist yet say so here rather than printing something that looks as if it worked.
/// </summary>
internal sealed record DemoBanner
{
    public required string Root { get; init; }

    public required string ConfigPath { get; init; }

    public required string Upstream { get; init; }

    public required int Port { get; init; }

    public required string AdminUrl { get; init; }

    public required string AgentToken { get; init; }

    public required string ReviewerToken { get; init; }

    public required DemoProbes.MaskingResult Masking { get; init; }

    /// <summary>The web console's URL when the admin listener serves one, else null.</summary>
    public required string? Console { get; init; }

    /// <summary>The password of the console's dev login <see cref="DemoFiles.ConsoleLogin"/>.</summary>
    public required string ConsolePassword { get; init; }

    /// <summary>How to run this executable (for the token line).</summary>
    public required string Gatehouse { get; init; }

    public required bool Keep { get; init; }

    public string Render()
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');

        Line();
        Line("Gatehouse demo is ready. Ctrl-C stops it and removes everything it made.");
        Line();
        Line($"  gateway   127.0.0.1:{Port} (PostgreSQL protocol; TLS required, self-signed certificate)");
        Line($"  upstream  {Upstream}");
        Line(Console is null
            ? $"  admin     {AdminUrl} (/healthz, /metrics, /dev-issuer); there is no web console yet (coming)"
            : $"  admin     {AdminUrl} (/healthz, /metrics, /dev-issuer); web console at {Console}");
        Line($"  files     {Root} ({(Keep ? "kept at exit: --keep" : "removed at exit")})");
        Line();
        Line($"Sign in to the web console at {Console ?? AdminUrl + "/"} as {DemoFiles.ConsoleLogin}, password {ConsolePassword}");
        Line($"(identity {DemoFiles.ReviewerIdentity}: approves held statements, reads sessions, edits the policy).");
        Line();
        Line($"Connect as the AI agent (identity {DemoFiles.AgentIdentity}: groups={DemoFiles.AgentGroup}; the token is valid for 1 hour):");
        Line();
        Line($"  PGPASSWORD={AgentToken} psql \"host=127.0.0.1 port={Port} dbname={DemoFiles.Target} user=agent sslmode=require\"");
        Line();
        Line($"Reviewer token (identity {DemoFiles.ReviewerIdentity}: roles={DemoFiles.ReviewerRole}). It has no grant on {DemoFiles.Target}, so a login with it");
        Line("is refused (\"gatehouse: no grant\"); it approves held statements (the command is in step 3 below):");
        Line();
        Line($"  {ReviewerToken}");
        Line();
        Line("Things to try in psql:");
        Line();
        Line("  1. SELECT name, email, phone, ssn FROM customers LIMIT 3;");
        Line("     The policy masks email (email), ssn and card_number (last4) and phone (hash).");
        Line(Masking.State switch
        {
            DemoProbes.MaskingState.NotApplied =>
                $"     Masking is not applied yet (coming): the demo read {Masking.Real} back unmasked through the gateway.",
            DemoProbes.MaskingState.Applied =>
                $"     Masking is on: the demo read {Masking.Real} back as {Masking.Seen} through the gateway.",
            _ => $"     The demo could not check masking: {Masking.Seen}",
        });
        Line("  2. DROP TABLE orders;");
        Line("     Refused before PostgreSQL sees it: ERROR:  gatehouse: denied by rule no-ddl …");
        Line("  3. UPDATE payments SET status = 'refunded' WHERE id = 1;");
        Line("     Rule pay-writes holds payment writes for review: psql shows a NOTICE with the review id and waits.");
        Line($"     Approve it in the web console (Reviews, signed in as {DemoFiles.ConsoleLogin}): psql returns UPDATE 1. Or in another terminal:");
        // In the environment, not on the command line, where other users of the machine can read it (ps).
        Line($"     GATEHOUSE_TOKEN=REVIEWER_TOKEN {Gatehouse} reviews approve ID --config {DemoRunner.Quote(ConfigPath)}");
        Line("  4. Then replay what the agent did, every statement tied to its token: the console's Sessions, or");
        Line($"     {Gatehouse} sessions list --config {DemoRunner.Quote(ConfigPath)}   (and: sessions show ID, sessions replay ID, audit verify)");
        Line();
        Line("More agent tokens:");
        Line($"  {Gatehouse} token --dev --sub NAME --claim groups={DemoFiles.AgentGroup} --config {DemoRunner.Quote(ConfigPath)}");
        Line();
        Line("The gateway's log (sessions, refusals) follows.");
        return text.ToString();
    }
}
