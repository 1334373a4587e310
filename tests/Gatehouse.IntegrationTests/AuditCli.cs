using System.Text.Json;

namespace Gatehouse.IntegrationTests;

/// <summary>The trail's verbs run through the real executable, and the state file read as bytes.</summary>
internal static class AuditCli
{
    public static Task<ProcessRunner.Result> RunAsync(params string[] arguments) =>
        ProcessRunner.RunAsync(GatewayProcess.Executable, arguments, timeout: TimeSpan.FromSeconds(120));

    /// <summary>Runs a verb that must succeed and prints JSON; returns the parsed document.</summary>
    public static async Task<JsonElement> JsonAsync(params string[] arguments)
    {
        var result = await RunAsync(arguments);
        Assert.True(result.ExitCode == 0, $"{string.Join(' ', arguments)}: exit {result.ExitCode}: {result.Stderr}");
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }

    /// <summary>The sessions of one subject, waiting until <paramref name="count"/> of them have ended (session.end is written after the client leaves).</summary>
    public static async Task<JsonElement[]> EndedSessionsAsync(string config, string subject, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var sessions = (await JsonAsync("sessions", "list", "--config", config, "--identity", subject, "--json")).EnumerateArray().ToArray();
            if (sessions.Length == count && sessions.All(s => s.GetProperty("ended").ValueKind != JsonValueKind.Null))
            {
                return sessions;
            }

            Assert.True(DateTime.UtcNow < deadline, $"expected {count} ended sessions of {subject}, have {sessions.Length}");
            await Task.Delay(200);
        }
    }

    /// <summary>Every statement record of a session's detail (sessions show --json), by SQL text.</summary>
    public static JsonElement Statement(JsonElement detail, string sql) =>
        Assert.Single(detail.GetProperty("statements").EnumerateArray(), s => s.GetProperty("statement").GetProperty("sql").GetString() == sql);

    /// <summary>The bytes of a SQLite state file and its WAL, as anyone with the file could read them.</summary>
    public static byte[] StateBytes(string databasePath)
    {
        using var all = new MemoryStream();
        foreach (var suffix in new[] { "", "-wal" })
        {
            if (File.Exists(databasePath + suffix))
            {
                using var file = new FileStream(databasePath + suffix, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                file.CopyTo(all);
            }
        }

        return all.ToArray();
    }
}
