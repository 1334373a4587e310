using System.CommandLine;
using System.Text.Json;
using Gatehouse.Audit;
using Gatehouse.Hosting;
using Gatehouse.State;

namespace Gatehouse.Commands;

/// <summary>`gatehouse audit verify|export`: check the chain, and hand the trail to a SIEM.</summary>
internal static class AuditCommands
{
    public static Command Create() => new("audit", "Check the tamper-evident audit trail, or export it.") { Verify(), Export() };

    private static Command Verify()
    {
        var config = CommandSupport.ConfigOption();
        var command = new Command("verify", "Walk every chain of the audit trail and name the first broken or missing record of each; exit 1 on a break.") { config };
        command.SetAction(async (parse, ct) =>
        {
            const string verb = "audit verify";
            var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
            if (gatewayConfig is null)
            {
                return CommandSupport.ExitUsage;
            }

            AuditKey key;
            try
            {
                key = AuditHosting.LoadKey(gatewayConfig);
            }
            catch (AuditKeyException ex)
            {
                return TrailSupport.Fail(verb, ex.Message);
            }

            await using var store = await TrailSupport.OpenAsync(gatewayConfig, verb);
            if (store is null)
            {
                return CommandSupport.ExitFailure;
            }

            AuditVerification result;
            try
            {
                result = await AuditVerifier.VerifyAsync(store.Audit, key, ct);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or IOException)
            {
                return TrailSupport.Fail(verb, $"state: cannot read the trail: {ex.Message}");
            }

            Console.WriteLine($"chains: {result.Chains}, records: {result.Records}");
            foreach (var broken in result.Breaks)
            {
                Console.WriteLine($"BROKEN: {TrailSupport.Visible(broken.ToString())}");
            }

            foreach (var note in result.Notes)
            {
                Console.WriteLine($"note: {TrailSupport.Visible(note)}");
            }

            if (!result.Intact)
            {
                await Console.Error.WriteLineAsync($"gatehouse: {verb}: {result.Breaks.Count} of {result.Chains} chain(s) broken");
                return CommandSupport.ExitFailure;
            }

            Console.WriteLine("ok: every chain verifies");
            return CommandSupport.ExitOk;
        });
        return command;
    }

    private static Command Export()
    {
        var config = CommandSupport.ConfigOption();
        var since = new Option<string>("--since") { Description = "only records at or after this time: ISO-8601 or a duration back from now (2h, 7d)" };
        var format = new Option<string>("--format") { Description = "the output format", DefaultValueFactory = _ => "jsonl" };
        format.AcceptOnlyFromAmong("jsonl");
        var command = new Command("export", "Print the trail as JSON Lines, one record a line in time order, for SIEM ingestion.") { config, since, format };
        command.SetAction(async (parse, ct) =>
        {
            const string verb = "audit export";
            if (!TrailSupport.ReadTime(verb, "--since", parse.GetValue(since), out var from))
            {
                return CommandSupport.ExitUsage;
            }

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

            await using var output = Console.OpenStandardOutput();
            try
            {
                await WriteJsonLinesAsync(store.Audit.ReadAsync(new AuditQuery(Since: from), ct), output, ct);
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or IOException)
            {
                return TrailSupport.Fail(verb, $"state: cannot read the trail: {ex.Message}");
            }

            return CommandSupport.ExitOk;
        });
        return command;
    }

    /// <summary>One JSON object per record: chain, seq, time, kind, session, body (the stored JSON, as an object), mac (hex).</summary>
    internal static async Task WriteJsonLinesAsync(IAsyncEnumerable<AuditRow> rows, Stream output, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await using var writer = new Utf8JsonWriter(buffer);
        int lines = 0;
        await foreach (var row in rows.WithCancellation(ct))
        {
            writer.WriteStartObject();
            writer.WriteString("chain", row.Chain);
            writer.WriteNumber("seq", row.Seq);
            writer.WriteString("time", row.Time.UtcDateTime);
            writer.WriteString("kind", row.Kind);
            writer.WriteString("session", row.SessionId);
            writer.WritePropertyName("body");
            if (IsJsonObject(row.Body))
            {
                writer.WriteRawValue(row.Body, skipInputValidation: true);
            }
            else
            {
                // Not what the writer stores (edited by hand?): kept as text, so the export still says what is there.
                writer.WriteStringValue(row.Body);
            }

            writer.WriteString("mac", Convert.ToHexStringLower(row.Mac));
            writer.WriteEndObject();
            await writer.FlushAsync(ct);
            writer.Reset();
            buffer.WriteByte((byte)'\n');
            if (++lines % 256 == 0 || buffer.Length > 1 << 20)
            {
                buffer.Position = 0;
                await buffer.CopyToAsync(output, ct);
                buffer.SetLength(0);
            }
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(output, ct);
        await output.FlushAsync(ct);
    }

    private static bool IsJsonObject(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
