using System.CommandLine;
using System.Text.Json;
using Gatehouse.Configuration;
using Gatehouse.Hosting;
using Gatehouse.Policy;
using Gatehouse.Policy.Model;
using Gatehouse.Policy.Tools;
using Gatehouse.Sql;

namespace Gatehouse.Commands;

/// <summary>
/// <c>gatehouse policy explain</c>: the grant, each statement's analyzer facts and decision, the batch decision, and
/// which result columns the grant's masks would change (bound through the target's catalog when it can be reached).
/// Text by default, the same content as one JSON object with <c>--json</c>.
/// </summary>
internal static class PolicyExplainCommand
{
    public static Command Create()
    {
        var config = CommandSupport.ConfigOption();
        var claims = new Option<string>("--claims") { Description = "the token's claims as a JSON object", Required = true };
        var target = new Option<string>("--target") { Description = "the target (dbname) to connect to", Required = true };
        var sql = new Option<string>("--sql") { Description = "the SQL to decide on", Required = true };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };
        var offline = new Option<bool>("--offline") { Description = "do not ask the target's catalog; list masks by the relations read" };
        var command = new Command("explain", "Print the analyzer's facts, the decision (allow/deny/review), the rule that made it, and the masked columns.")
        {
            config, claims, target, sql, json, offline,
        };
        command.SetAction(async (parse, ct) =>
        {
            var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
            if (gatewayConfig is null)
            {
                return CommandSupport.ExitUsage;
            }

            if (gatewayConfig.PolicyPath is null)
            {
                await Console.Error.WriteLineAsync($"{gatewayConfig.SourcePath}: error: no 'policy' configured");
                return CommandSupport.ExitUsage;
            }

            string targetName = parse.GetValue(target)!;
            if (!gatewayConfig.Targets.ContainsKey(targetName))
            {
                await Console.Error.WriteLineAsync($"gatehouse: unknown target \"{targetName}\"; known targets: {string.Join(", ", gatewayConfig.Targets.Keys)}");
                return CommandSupport.ExitUsage;
            }

            var loaded = PolicyLoader.LoadFile(gatewayConfig.PolicyPath, gatewayConfig.Targets.Keys.ToHashSet());
            if (loaded.Snapshot is null)
            {
                foreach (var error in loaded.Errors)
                {
                    await Console.Error.WriteLineAsync(error.ToString());
                }

                return CommandSupport.ExitFailure;
            }

            if (!PolicyExplain.TryParseClaims(parse.GetValue(claims)!, out var claimsJson, out var claimsError))
            {
                await Console.Error.WriteLineAsync("gatehouse: policy explain: " + claimsError);
                return PolicyExplain.ExitBadInput;
            }

            string text = parse.GetValue(sql)!;
            var statements = SqlAnalyzer.Instance.Analyze(text, new SqlSessionState()).Statements;
            var explanation = PolicyExplain.Explain(loaded.Snapshot, claimsJson, targetName, statements);
            var masks = explanation.Grant is { } grant
                ? await MaskReport.BuildAsync(grant, CredentialTargets.Map(gatewayConfig.Targets[targetName]), text, statements, parse.GetValue(offline), ct)
                : MaskReport.None;
            var report = new ExplainReport(explanation, statements, text, targetName, masks);
            if (parse.GetValue(json))
            {
                report.WriteJson(Console.OpenStandardOutput());
            }
            else
            {
                report.WriteText(Console.Out);
            }

            return PolicyExplain.ExitOk;
        });
        return command;
    }
}

/// <summary>Everything <c>policy explain</c> prints, as text or JSON.</summary>
internal sealed record ExplainReport(PolicyExplanation Explanation, IReadOnlyList<StatementFacts> Statements, string Sql, string Target, MaskReport Masks)
{
    private bool HasMasks => Explanation.Masks.Count > 0;

    public void WriteText(TextWriter output)
    {
        PolicyExplain.Write(Explanation, Statements, Target, output, WriteFacts);
        if (!HasMasks || Explanation.Grant is null)
        {
            return;
        }

        const string byRelation = "masks listed by the relations each statement names (views and inheritance not followed)";
        output.WriteLine(Masks.Bound ? $"mask binding: result columns traced through the catalog of target \"{Target}\""
            : Masks.Offline ? $"mask binding: catalog not asked (--offline); {byRelation}"
            : Masks.Unreachable is { } why ? $"mask binding: the catalog of target \"{Target}\" cannot be read ({why}); {byRelation}"
            : $"mask binding: the grant has only content detectors; no column is masked by name");
        if (Masks.Detectors.Count > 0)
        {
            output.WriteLine($"detectors: {string.Join(", ", Masks.Detectors)} scan the text of every other column (with {Masks.DetectWith})");
        }
    }

    private void WriteFacts(int index, TextWriter output)
    {
        var facts = Statements[index];
        output.WriteLine($"  reads: {List(facts.ReadRelations)}{(facts.ReadsUnlistedRelations ? " (and tables it does not name)" : "")}");
        output.WriteLine($"  writes: {List(facts.WrittenRelations)}{(facts.WritesUnlistedRelations ? " (and tables it does not name)" : "")}");
        output.WriteLine($"  functions: {List(facts.Functions)}");
        output.WriteLine($"  settings: {(facts.Settings.Count == 0 ? "none" : string.Join(", ", facts.Settings.Select(Setting)))}");
        if (facts.Commands.Count > 1)
        {
            output.WriteLine($"  also runs: {string.Join(", ", facts.Commands.Skip(1))}");
        }

        if (facts.IsLockingRead)
        {
            output.WriteLine("  locking read: FOR UPDATE/SHARE (the policy treats it as a write)");
        }

        if (facts.UnknownReason is { } reason)
        {
            output.WriteLine($"  not understood: {reason}");
        }

        if (!HasMasks || index >= Masks.Statements.Count)
        {
            return;
        }

        var masks = Masks.Statements[index];
        if (masks.Columns is { } columns)
        {
            output.WriteLine($"  masked columns: {(columns.Count == 0 ? "none" : string.Join("; ", columns.Select(c => $"{c.Column}: {c.With} ({c.Why})")))}");
        }

        if (masks.ByRelation is { } byRelation)
        {
            output.WriteLine($"  masks for relations it names: {(byRelation.Count == 0 ? "none" : string.Join("; ", byRelation.Select(m => $"{m.Relation}: {m.Pattern} with {m.With}")))}");
        }

        if (masks.Note is { } note)
        {
            output.WriteLine($"  masking: {note}");
        }
    }

    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("target", Target);
        if (Explanation.Grant is not { } grant || Explanation.Decision is not { } decision)
        {
            w.WriteNull("grant");
            w.WriteStartArray("statements");
            w.WriteEndArray();
            w.WriteStartObject("decision");
            w.WriteString("verdict", "refused at connect");
            w.WriteString("reason", $"gatehouse: no grant (no grant for target '{Target}' matches these claims)");
            w.WriteEndObject();
            w.WriteEndObject();
            w.Flush();
            stream.WriteByte((byte)'\n');
            return;
        }

        w.WriteStartObject("grant");
        w.WriteNumber("number", grant.Index + 1);
        w.WriteString("to", grant.To);
        w.WriteNumber("line", grant.Line);
        Strings(w, "db_roles", grant.DbRoles);
        w.WriteEndObject();
        w.WriteStartArray("statements");
        for (int i = 0; i < Statements.Count; i++)
        {
            WriteStatementJson(w, i);
        }

        w.WriteEndArray();
        w.WritePropertyName("decision");
        Decision(w, decision);
        w.WriteStartArray("masks");
        foreach (var mask in Explanation.Masks)
        {
            w.WriteStartObject();
            Strings(w, "columns", mask.Columns);
            Strings(w, "detect", mask.Detect);
            w.WriteString("with", mask.With);
            w.WriteNumber("line", mask.Line);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (HasMasks)
        {
            w.WriteStartObject("mask_binding");
            w.WriteBoolean("bound", Masks.Bound);
            w.WriteBoolean("offline", Masks.Offline);
            w.WriteString("catalog_unreachable", Masks.Unreachable);
            Strings(w, "detectors", Masks.Detectors);
            w.WriteString("detect_with", Masks.DetectWith);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.Flush();
        stream.WriteByte((byte)'\n');
    }

    private void WriteStatementJson(Utf8JsonWriter w, int i)
    {
        var facts = Statements[i];
        w.WriteStartObject();
        w.WriteNumber("number", i + 1);
        w.WriteString("text", Sql.AsSpan(facts.Start, facts.Length));
        w.WriteString("command", facts.Command);
        Strings(w, "commands", facts.Commands);
        w.WriteString("class", StatementClassNames.ToName(facts.Class));
        Strings(w, "reads", facts.ReadRelations.Select(r => r.ToString()));
        Strings(w, "writes", facts.WrittenRelations.Select(r => r.ToString()));
        w.WriteBoolean("reads_unlisted", facts.ReadsUnlistedRelations);
        w.WriteBoolean("writes_unlisted", facts.WritesUnlistedRelations);
        w.WriteBoolean("locking_read", facts.IsLockingRead);
        Strings(w, "functions", facts.Functions.Select(f => f.ToString()));
        w.WriteStartArray("settings");
        foreach (var setting in facts.Settings)
        {
            w.WriteStartObject();
            w.WriteString("name", setting.Name);
            w.WriteString("value", setting.Value);
            w.WriteString("kind", JsonNamingPolicy.SnakeCaseLower.ConvertName(setting.Kind.ToString()));
            w.WriteBoolean("local", setting.IsLocal);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("unknown_reason", facts.UnknownReason);
        w.WritePropertyName("decision");
        Decision(w, Explanation.Statements[i]);
        if (HasMasks && i < Masks.Statements.Count)
        {
            var masks = Masks.Statements[i];
            if (masks.Columns is { } columns)
            {
                Objects(w, "masked_columns", columns.Select(c => new[] { ("column", c.Column), ("with", c.With), ("why", c.Why) }));
            }

            if (masks.ByRelation is { } byRelation)
            {
                Objects(w, "masks_by_relation", byRelation.Select(m => new[] { ("relation", m.Relation), ("pattern", m.Pattern), ("with", m.With) }));
            }

            w.WriteString("masking_note", masks.Note);
        }

        w.WriteEndObject();
    }

    private static void Decision(Utf8JsonWriter w, PolicyDecision decision)
    {
        w.WriteStartObject();
        w.WriteString("verdict", decision.Verdict.ToString().ToLowerInvariant());
        w.WriteString("rule", decision.RuleId);
        w.WriteString("reason", decision.Reason);
        if (decision.StatementIndex is { } index)
        {
            w.WriteNumber("statement", index + 1);
        }

        w.WriteEndObject();
    }

    private static void Objects(Utf8JsonWriter w, string name, IEnumerable<(string Key, string Value)[]> items)
    {
        w.WriteStartArray(name);
        foreach (var item in items)
        {
            w.WriteStartObject();
            foreach (var (key, value) in item)
            {
                w.WriteString(key, value);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    private static string List(IReadOnlyList<QualifiedName> names) => names.Count == 0 ? "none" : string.Join(", ", names);

    private static string Setting(SettingChange setting)
    {
        string value = setting.Kind switch
        {
            SettingValueKind.Literal => $"={setting.Value}",
            SettingValueKind.Default => " (reset to default)",
            SettingValueKind.FromCurrent => " (from current)",
            _ => " (value not known before it runs)",
        };
        return setting.Name + value + (setting.IsLocal ? " (local)" : "");
    }
}
