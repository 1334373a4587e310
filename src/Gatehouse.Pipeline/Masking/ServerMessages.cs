namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Server messages kept in a statement that reads masked data, on the wire and in the trail alike: those with no
/// variable part at all, and a permission error (it names an object that exists). A class of SQLSTATE is no
/// guarantee: built-ins put their text arguments in 42703 (has_column_privilege), 42601 (to_tsquery) and numbers in
/// 54000 (array_fill) messages, and quotes an agent adds around a value defeat any reading of which part is the
/// value. Every other message is withheld.
/// </summary>
public static partial class ServerMessages
{
    private static readonly HashSet<string> ConstantMessages = new(StringComparer.Ordinal)
    {
        "current transaction is aborted, commands ignored until end of transaction block",
        "could not serialize access due to concurrent update",
        "could not serialize access due to concurrent delete",
        "could not serialize access due to read/write dependencies among transactions",
        "deadlock detected",
        "canceling statement due to user request",
        "canceling statement due to statement timeout",
        "canceling statement due to lock timeout",
        "division by zero",
    };

    /// <summary>Whether the message (of SQLSTATE <paramref name="code"/>) can carry no value of the data a statement read.</summary>
    public static bool KeepsDataOut(string? code, string? message) =>
        message is not null && (ConstantMessages.Contains(message) || (code == "42501" && PermissionDenied().IsMatch(message)));

    [System.Text.RegularExpressions.GeneratedRegex(@"^permission denied for (table|view|sequence|schema|function|procedure|materialized view|foreign table|database|large object|type|language) [A-Za-z0-9_.$""]{1,130}$")]
    private static partial System.Text.RegularExpressions.Regex PermissionDenied();
}
