using System.Text.Json;
using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Tests;

/// <summary>Hand-built analyzer facts and small policies for tests.</summary>
internal static class Support
{
    public static string PolicyDir => Path.Combine(AppContext.BaseDirectory, "policies");

    public static StatementFacts Facts(
        StatementClass cls,
        string command = "SELECT",
        string[]? read = null,
        string[]? written = null,
        string[]? functions = null,
        string? unknownReason = null) => new()
    {
        Start = 0,
        Length = 1,
        Command = command,
        Class = cls,
        ReadRelations = Names(read),
        WrittenRelations = Names(written),
        Functions = Names(functions),
        UnknownReason = unknownReason,
    };

    public static JsonElement Claims(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>A policy with one identity (groups: ai-agents) and one grant on target "orders" holding <paramref name="rules"/>.</summary>
    public static (PolicySnapshot Snapshot, Grant Grant) OneGrant(string rules, string extra = "")
    {
        var text = $"""
            identities:
              agents: {"{"} claims: {"{"} groups: ai-agents {"}"} {"}"}
              dbas: {"{"} claims: {"{"} roles: dba {"}"} {"}"}
            grants:
              - to: agents
                targets: [orders]
                db_roles: [app_read]
                rules:
            {Indent(rules, "      ")}
            reviews:
              approvers: dbas
            {extra}
            """;
        var result = PolicyLoader.Parse(text, "test.yaml");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        return (result.Snapshot!, result.Snapshot!.Grants[0]);
    }

    /// <summary>One grant (agents → orders, app_read) whose last key is <paramref name="setting"/> (say "limits: {…}"), on line 7, column 5.</summary>
    public static PolicyLoadResult OneGrantWith(string setting) => PolicyLoader.Parse($"""
        identities:
          agents: {"{"} claims: {"{"} groups: ai-agents {"}"} {"}"}
        grants:
          - to: agents
            targets: [orders]
            db_roles: [app_read]
        {(setting.Length == 0 ? "" : "    " + setting)}
        """, "p.yaml");

    private static string Indent(string text, string prefix) =>
        string.Join("\n", text.Split('\n').Select(l => l.Length == 0 ? l : prefix + l.TrimStart()));

    private static List<QualifiedName> Names(string[]? names) =>
        (names ?? []).Select(n => n.Split('.') is [var s, var t] ? new QualifiedName(s, t) : new QualifiedName(null, n)).ToList();
}
