namespace Gatehouse.Pipeline;

/// <summary>Why Gatehouse refused something; each kind has one SQLSTATE (SPEC §4).</summary>
public enum RefusalKind
{
    AuthenticationFailed,
    NoGrant,
    UnknownTarget,
    Denied,
    NotUnderstood,
    ReviewRequired,
    SessionGuard,
    FastPath,
    CredentialLease,
    MaskingUnavailable,
    AuditUnavailable,
    SyntaxError,
}

/// <summary>A refusal as the client sees it: SQLSTATE and a message that starts with "gatehouse: " (a syntax error
/// is the server's own, with its 1-based character <see cref="Position"/>).</summary>
public sealed record Refusal(RefusalKind Kind, string SqlState, string Message, string? RuleId = null)
{
    public int? Position { get; init; }
}

/// <summary>The one catalogue of refusals and their wording, shared by every front door.</summary>
public static class Refusals
{
    public const string InsufficientPrivilege = "42501";
    public const string InvalidAuthorization = "28000";
    public const string InvalidCatalogName = "3D000";

    /// <summary>A refusal of the session guard: the protocol use Gatehouse cannot follow safely.</summary>
    private static Refusal Guard(string sqlState, string message) => new(RefusalKind.SessionGuard, sqlState, message, "session-guard");

    public static Refusal AuthenticationFailed(string sqlState, string reason) =>
        new(RefusalKind.AuthenticationFailed, sqlState, "gatehouse: authentication failed: " + reason);

    public static Refusal NoGrant(string subject, string target) =>
        new(RefusalKind.NoGrant, InvalidAuthorization, $"gatehouse: no grant for \"{subject}\" on target \"{target}\"");

    /// <summary>With no <paramref name="known"/> names (the wire door, before authentication) the targets are not listed.</summary>
    public static Refusal UnknownTarget(string? target, IEnumerable<string> known)
    {
        // A token given as the database name by mistake must not reach the log (nor be echoed).
        string shown = target is { Length: > 20 } && target.StartsWith("eyJ", StringComparison.Ordinal) && target.Contains('.', StringComparison.Ordinal)
            ? "[a token, not shown: the token is the password]"
            : target ?? "";
        return new(RefusalKind.UnknownTarget, InvalidCatalogName, known.Any()
            ? $"gatehouse: unknown target \"{shown}\"; known targets: {string.Join(", ", known)}"
            : $"gatehouse: unknown target \"{shown}\"");
    }

    public static Refusal Denied(string ruleId, string reason) =>
        new(RefusalKind.Denied, InsufficientPrivilege, $"gatehouse: denied by rule {ruleId}: {reason}", ruleId);

    /// <summary><paramref name="reason"/> starts with "statement not understood".</summary>
    public static Refusal NotUnderstood(string ruleId, string reason) =>
        new(RefusalKind.NotUnderstood, InsufficientPrivilege, "gatehouse: " + reason, ruleId);

    /// <summary>Text Gatehouse did not understand is not valid SQL: PostgreSQL's own error (see <see cref="UpstreamSyntaxCheck"/>).</summary>
    public static Refusal SyntaxError(string message, int position, string? ruleId) =>
        new(RefusalKind.SyntaxError, "42601", message, ruleId) { Position = position };

    /// <summary>Hold mode: a reviewer rejected the statement (SPEC §4).</summary>
    public static Refusal ReviewRejected(string reviewId, string ruleId, string reason) =>
        new(RefusalKind.ReviewRequired, InsufficientPrivilege, $"gatehouse: review {reviewId} rejected: {reason}", ruleId);

    /// <summary>Hold mode: nobody decided in time (SPEC §4).</summary>
    public static Refusal ReviewTimedOut(string reviewId, string ruleId, TimeSpan timeout) =>
        new(RefusalKind.ReviewRequired, InsufficientPrivilege, $"gatehouse: review {reviewId} timed out after {timeout}: nobody decided", ruleId);

    /// <summary>Hold mode: the client cancelled the held statement; the review is withdrawn.</summary>
    public static Refusal ReviewWithdrawn(string reviewId, string ruleId) =>
        new(RefusalKind.ReviewRequired, "57014", $"gatehouse: review {reviewId} withdrawn: the statement was cancelled", ruleId);

    /// <summary>Async mode (or a bounded hold that ended): the statement needs an approval first.</summary>
    public static Refusal ReviewPending(string reviewId, string ruleId, string howToDecide) =>
        new(RefusalKind.ReviewRequired, InsufficientPrivilege, $"{PendingPrefix}{reviewId} required by rule {ruleId}: {howToDecide}", ruleId);

    private const string PendingPrefix = "gatehouse: review ";

    /// <summary>The review a <see cref="ReviewPending"/> message names (a front door that relays the wire's errors
    /// reads it back); null for any other message.</summary>
    public static string? PendingReviewId(string message)
    {
        if (!message.StartsWith(PendingPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        int end = message.IndexOf(' ', PendingPrefix.Length);
        return end > PendingPrefix.Length && message.AsSpan(end).StartsWith(" required by rule ", StringComparison.Ordinal)
            ? message[PendingPrefix.Length..end]
            : null;
    }

    /// <summary>A bounded hold's approval was taken by the same statement sent again meanwhile (it ran there).</summary>
    public static Refusal ReviewUsed(string reviewId, string ruleId) =>
        new(RefusalKind.ReviewRequired, InsufficientPrivilege, $"gatehouse: review {reviewId} was already used by another call of the same statement; send it again to ask for a new review", ruleId);

    /// <summary>One identity asked for too many reviews at once.</summary>
    public static Refusal ReviewQueueFull(string ruleId, string reason) =>
        new(RefusalKind.ReviewRequired, "53400", $"gatehouse: review refused: {reason}", ruleId);

    public static Refusal ReviewRequired(string ruleId, string reason) =>
        new(RefusalKind.ReviewRequired, InsufficientPrivilege,
            $"gatehouse: denied by rule {ruleId}: the statement needs review, and this gateway has no approval workflow yet ({reason})", ruleId);

    /// <summary>A protocol Bind of a statement not prepared by a Parse that Gatehouse saw (SQL PREPARE, or gone), with
    /// PostgreSQL's SQLSTATE for a statement that does not exist (26000): for Gatehouse it does not.</summary>
    public static Refusal NotPreparedThroughGatehouse(string name) =>
        Guard("26000",
            $"gatehouse: prepared statement \"{name}\" does not exist for the extended protocol: it was not prepared by a Parse through Gatehouse (run a SQL-prepared statement with EXECUTE)");

    /// <summary>A protocol Bind of a name whose last Parse, in an earlier batch, the server skipped or refused: the
    /// server's statement of that name is not the one Gatehouse decided (26000, as for a statement it does not know).</summary>
    public static Refusal NotTheServersStatement(string name) =>
        Guard("26000",
            $"gatehouse: prepared statement \"{name}\" is not the one its last Parse made (the server skipped or refused that Parse): close it and prepare it again");

    /// <summary>A large Bind that streams (it cannot wait) of a name an unanswered earlier batch changed.</summary>
    public static Refusal StatementNotSettled(string name) =>
        Guard("55000",
            $"gatehouse: prepared statement \"{name}\" was changed by a batch the server has not answered yet; a Bind over 1 MiB of it must wait for that batch's ReadyForQuery");

    /// <summary>Under masks, an Execute of a portal after other statements ran since its Bind or last Execute: one of them
    /// may have replaced it under the same name (34000, as for a portal Gatehouse does not know).</summary>
    public static Refusal PortalMayBeReplaced(string name, bool byHiddenCode = false) =>
        Guard("34000", byHiddenCode
            ? $"gatehouse: portal \"{name}\" was bound before code Gatehouse does not read ran (a DO block or a user function), which may have replaced it (a CLOSE and OPEN of a cursor by that name): bind it again"
            : $"gatehouse: portal \"{name}\" was bound before other statements ran, and one of them may have replaced it (ROLLBACK TO SAVEPOINT, a function's CLOSE and OPEN); under masks a portal is executed only until another statement runs: bind it again");

    /// <summary>A Query with more than one COPY … FROM STDIN: one at a time (the gateway tracks the copy the server is reading).</summary>
    public static Refusal SeveralCopiesFromClient { get; } = Guard("0A000",
        "gatehouse: a query string may hold one COPY … FROM STDIN at most; send each COPY as its own query");

    /// <summary>A protocol Execute of a portal not made by a Bind that Gatehouse saw (a SQL cursor, or gone), with
    /// PostgreSQL's SQLSTATE for a portal that does not exist (34000).</summary>
    public static Refusal NotBoundThroughGatehouse(string name) =>
        Guard("34000",
            $"gatehouse: portal \"{name}\" does not exist for the extended protocol: it was not bound by a Bind through Gatehouse (read a SQL cursor with FETCH)");

    /// <summary>The server's copy of a statement or portal name with a non-ASCII byte depends on its encoding conversion.</summary>
    public static Refusal NonAsciiName { get; } = Guard("42602",
        "gatehouse: statement and portal names must be ASCII through Gatehouse (the server's copy of another name depends on its encoding conversion)");

    /// <summary>A Bind too large to wait on, of a statement prepared before the policy changed.</summary>
    public static Refusal PreparedUnderOlderPolicy(string name) =>
        Guard("0A000", $"gatehouse: the policy changed since prepared statement \"{name}\" was prepared; close it and prepare it again");

    /// <summary>EXECUTE, FETCH or MOVE after a DO block or a user function in one query string.</summary>
    public static Refusal NameUsedAfterHiddenCode { get; } = Guard("0A000",
        "gatehouse: EXECUTE, FETCH and MOVE may not follow code Gatehouse does not read (a DO block, a procedure or a user function) in one query string: that code may redefine the prepared statement or cursor they use");

    /// <summary>A Bind too large to hold back (or of a statement whose Parse was too large to keep) after code Gatehouse
    /// does not read ran: that code may have redefined the statement, and it cannot be prepared again in place.</summary>
    public static Refusal PreparedBeforeHiddenCode(string name) =>
        Guard("0A000", $"gatehouse: code Gatehouse does not read (a DO block, a procedure or a user function) ran since prepared statement \"{name}\" was prepared and may have redefined it; close it and prepare it again");

    /// <summary>Text with a non-ASCII byte while a change of client_encoding is under way (until the server is idle again).</summary>
    public static Refusal ClientEncodingUnsettled { get; } = Guard("22021",
        "gatehouse: the text is not valid in the client encoding, or client_encoding may be changing (a statement that changes it has not finished, or its transaction is open): send text with non-ASCII characters after the transaction ends");

    /// <summary>An Execute of a portal bound before the policy changed: it is decided again only when bound again.</summary>
    public static Refusal PortalNameChanged(string portal) =>
        Guard("0A000", $"gatehouse: portal \"{portal}\" runs a prepared statement or cursor by name (EXECUTE, FETCH), and a message that may change what that name means was sent since it was bound; bind it again");

    public static Refusal BoundUnderOlderPolicy(string portal) =>
        Guard("0A000", $"gatehouse: the policy changed since portal \"{portal}\" was bound; bind it again");

    /// <summary>A Parse of a name the session has prepared already, as PostgreSQL refuses it (42P05).</summary>
    public static Refusal StatementExists(string name) =>
        Guard("42P05", $"gatehouse: prepared statement \"{name}\" already exists");

    public static Refusal SessionGuard(string problem) =>
        Guard(InsufficientPrivilege, "gatehouse: denied: " + problem);

    public static Refusal FastPath { get; } =
        new(RefusalKind.FastPath, InsufficientPrivilege, "gatehouse: the fastpath function call interface is not allowed");

    /// <summary>Masking could not decide what to mask (catalog unreachable, result not traceable): nothing is answered unmasked.</summary>
    public static Refusal MaskingUnavailable(string reason) =>
        new(RefusalKind.MaskingUnavailable, "58000", "gatehouse: masking unavailable: " + reason);

    /// <summary>What the client is told when the trail cannot be written; the store's own reason goes to the log.</summary>
    public const string AuditUnwritable = "the statement's record could not be written to the audit trail";

    /// <summary>The statement's audit record could not be written (SPEC §4): nothing runs unrecorded.</summary>
    public static Refusal AuditUnavailable(string reason) =>
        new(RefusalKind.AuditUnavailable, "58000", "gatehouse: audit unavailable: " + reason);

    /// <summary><paramref name="error"/> is the broker's client-facing message, which already starts with "gatehouse: ".</summary>
    public static Refusal CredentialLease(string? sqlState, string error) =>
        new(RefusalKind.CredentialLease, sqlState ?? "08001", error.StartsWith("gatehouse: ", StringComparison.Ordinal) ? error : "gatehouse: " + error);
}
