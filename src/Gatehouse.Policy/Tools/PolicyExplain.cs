using System.Text.Json;
using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Tools;

/// <summary>What the policy does with some statements for some identity on some target.</summary>
public sealed class PolicyExplanation
{
    /// <summary>Null: the identity has no grant for the target and is refused at connect (28000 "gatehouse: no grant").</summary>
    public required Grant? Grant { get; init; }

    /// <summary>One decision per statement, in order; empty when there is no grant.</summary>
    public required IReadOnlyList<PolicyDecision> Statements { get; init; }

    /// <summary>The batch decision (<see cref="PolicySnapshot.DecideAll"/>); null when there is no grant.</summary>
    public required PolicyDecision? Decision { get; init; }

    /// <summary>The grant's mask specs, which would apply to result rows.</summary>
    public IReadOnlyList<MaskSpec> Masks => Grant?.Masks ?? [];
}

/// <summary><c>gatehouse policy explain</c>: the decision, the rule that made it, and the masks. The CLI runs the analyzer.</summary>
public static class PolicyExplain
{
    public const int ExitOk = 0;
    public const int ExitBadInput = 2;

    public static PolicyExplanation Explain(PolicySnapshot snapshot, JsonElement claims, string target, IReadOnlyList<StatementFacts> statements)
    {
        var grant = snapshot.FindGrant(claims, target);
        if (grant is null)
        {
            return new PolicyExplanation { Grant = null, Statements = [], Decision = null };
        }

        var each = statements.Select(s => snapshot.Decide(grant, s)).ToList();
        return new PolicyExplanation { Grant = grant, Statements = each, Decision = snapshot.DecideAll(grant, statements) };
    }

    /// <summary>Parses claims given on the command line; they must be one JSON object.</summary>
    public static bool TryParseClaims(string json, out JsonElement claims, out string? error)
    {
        claims = default;
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = $"--claims must be a JSON object, got {document.RootElement.ValueKind.ToString().ToLowerInvariant()}";
                return false;
            }

            claims = document.RootElement.Clone();
            error = null;
            return true;
        }
        catch (JsonException ex)
        {
            error = $"--claims is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}); pass one object, e.g. {{\"sub\":\"ci\",\"groups\":[\"ai-agents\"]}}";
            return false;
        }
    }

    /// <summary>Prints the explanation; bad claims JSON → one error line on <paramref name="stderr"/>, exit 2.</summary>
    public static int Run(
        PolicySnapshot snapshot, string claimsJson, string target, IReadOnlyList<StatementFacts> statements, TextWriter stdout, TextWriter stderr)
    {
        if (!TryParseClaims(claimsJson, out var claims, out var error))
        {
            stderr.WriteLine("gatehouse: policy explain: " + error);
            return ExitBadInput;
        }

        Write(Explain(snapshot, claims, target, statements), statements, target, stdout);
        return ExitOk;
    }

    /// <param name="details">Called after each statement's line with its index, to add lines about it (the CLI adds the analyzer's facts).</param>
    public static void Write(PolicyExplanation explanation, IReadOnlyList<StatementFacts> statements, string target, TextWriter output, Action<int, TextWriter>? details = null)
    {
        if (explanation.Grant is not { } grant || explanation.Decision is not { } decision)
        {
            output.WriteLine($"decision: refused at connect: gatehouse: no grant (no grant for target '{target}' matches these claims)");
            return;
        }

        output.WriteLine($"grant: #{grant.Index + 1} to {grant.To} (line {grant.Line}), db_roles: {string.Join(", ", grant.DbRoles)}");
        for (var i = 0; i < explanation.Statements.Count; i++)
        {
            var facts = statements[i];
            var command = facts.Command.Length == 0 ? "?" : facts.Command;
            output.WriteLine($"statement {i + 1}: {command} ({StatementClassNames.ToName(facts.Class)}): {explanation.Statements[i]}");
            details?.Invoke(i, output);
        }

        var where = decision.StatementIndex is { } index ? $" (statement {index + 1})" : "";
        output.WriteLine($"decision: {decision}{where}");
        if (explanation.Masks.Count == 0)
        {
            output.WriteLine("masks: none");
            return;
        }

        output.WriteLine("masks:");
        foreach (var mask in explanation.Masks)
        {
            output.WriteLine("  " + mask);
        }
    }
}
