using Gatehouse.Credentials;
using Npgsql;

namespace Gatehouse.Pipeline;

/// <summary>PostgreSQL's own syntax error for a text: its message and 1-based character position.</summary>
public sealed record SyntaxError(string Message, int Position);

/// <summary>Tells whether SQL text is valid syntax, without running it.</summary>
public interface ISyntaxCheck
{
    /// <summary>The server's syntax error, or null when the text parses or the check could not be made.</summary>
    ValueTask<SyntaxError?> CheckAsync(string sql, CancellationToken ct);
}

/// <summary>
/// Has the target's server parse text it never runs: the text plus a second statement is sent as the Parse of a
/// prepared statement on a Gatehouse-owned connection. The server's raw parser reads the whole string first, so an
/// invalid text fails with 42601 and its position; a valid one always fails with "cannot insert multiple commands into
/// a prepared statement", before parse analysis, so nothing is looked up, locked or run with the provisioner's rights.
/// Any other outcome (no connection, timeout, another error) counts as valid syntax: the caller keeps its own refusal.
/// </summary>
public sealed class UpstreamSyntaxCheck : ISyntaxCheck, IAsyncDisposable
{
    // After a newline, so a trailing "--" comment cannot swallow it; a text left open (a string, a comment, a
    // parenthesis, BEGIN ATOMIC without END) fails as it would alone.
    private const string Suffix = "\n;SELECT 1";
    private const string MultipleCommands = "cannot insert multiple commands into a prepared statement";

    // PostgreSQL lexes nested comments in quadratic time and neither a cancel nor pg_terminate_backend stops its lexer:
    // text with more comment openers than this, or longer, is not sent (the caller's refusal stands without the
    // server's position), and at most two checks run at once, so an agent cannot keep superuser backends busy.
    public const int MaxCommentOpeners = 256;
    public const int MaxChars = 1 << 20;
    private readonly SemaphoreSlim _running = new(2, 2);
    private readonly NpgsqlDataSource _dataSource;

    public UpstreamSyntaxCheck(CredentialTarget target)
    {
        var builder = target.ProvisionerDataSource("gatehouse-syntax-check", maxPoolSize: 2, commandTimeoutSeconds: 5);
        builder.UsePasswordProvider(_ => target.ProvisionerPassword(), (_, _) => ValueTask.FromResult(target.ProvisionerPassword()));
        _dataSource = builder.Build();
    }

    public async ValueTask<SyntaxError?> CheckAsync(string sql, CancellationToken ct)
    {
        if (!Checkable(sql) || !await _running.WaitAsync(TimeSpan.FromSeconds(5), ct))
        {
            return null;
        }

        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct);
            await using var command = new NpgsqlCommand(sql + Suffix, connection);
            // A positional parameter puts Npgsql in raw mode: the text is sent as written, not split at ';'.
            command.Parameters.Add(new NpgsqlParameter { Value = 0 });
            await command.PrepareAsync(ct);
            return null;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.SyntaxError && ex.MessageText != MultipleCommands)
        {
            return Located(sql, ex.MessageText, ex.Position);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return null;   // no answer from the server: the check fails closed (the caller's refusal stands)
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>Whether the text may be sent to the server to be parsed (see <see cref="MaxCommentOpeners"/>).</summary>
    public static bool Checkable(string sql)
    {
        if (sql.Length > MaxChars)
        {
            return false;
        }

        int openers = 0;
        for (int i = sql.IndexOf("/*", StringComparison.Ordinal); i >= 0; i = sql.IndexOf("/*", i + 2, StringComparison.Ordinal))
        {
            if (++openers > MaxCommentOpeners)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The error as the server gives it for the text alone: an unterminated literal or comment quotes the rest
    /// of the text, suffix included; an error placed in the suffix means the text ended early. Without a position the
    /// error is not passed on.</summary>
    internal static SyntaxError? Located(string sql, string message, int position)
    {
        if (position <= 0)
            return null;
        if (message.EndsWith(Suffix + "\"", StringComparison.Ordinal))
            message = message[..^(Suffix.Length + 1)] + "\"";
        var length = CharacterCount(sql);
        if (position <= length)
            return new SyntaxError(message, position);
        return message.StartsWith("syntax error at or near ", StringComparison.Ordinal)
            ? new SyntaxError("syntax error at end of input", length + 1)
            : null;
    }

    /// <summary>The server counts characters, not UTF-16 code units.</summary>
    private static int CharacterCount(string s)
    {
        var n = 0;
        for (var i = 0; i < s.Length; i++)
            if (!char.IsLowSurrogate(s[i]))
                n++;
        return n;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}

/// <summary>How a refusal of SQL that is not understood becomes the server's syntax error.</summary>
public static class SyntaxChecks
{
    /// <summary>Only text Gatehouse does not understand is checked; valid syntax keeps <paramref name="refusal"/>.</summary>
    public static async ValueTask<Refusal> ExplainAsync(ISyntaxCheck? check, Refusal refusal, string sql, CancellationToken ct)
    {
        if (check is null || refusal.Kind != RefusalKind.NotUnderstood)
            return refusal;
        return await check.CheckAsync(sql, ct) is { } error ? Refusals.SyntaxError(error.Message, error.Position, refusal.RuleId) : refusal;
    }
}
