using System.Diagnostics.CodeAnalysis;
using Gatehouse.State.Postgres;
using Gatehouse.State.Sqlite;

namespace Gatehouse.State;

/// <summary>Opens the store a <c>state:</c> URI names.</summary>
public static class StateStore
{
    /// <summary>The accepted forms, for error messages.</summary>
    public const string AcceptedForms = "sqlite:PATH or postgres://USER@HOST/DATABASE";

    /// <summary>
    /// Opens <c>sqlite:PATH</c> (creating the file and its folder) or <c>postgres://…</c> / <c>postgresql://…</c>
    /// (see <see cref="PostgresStoreUri"/>), applying pending migrations and starting the writer; this blocks
    /// the calling thread, so call it at start-up. Errors are one line starting <c>state: </c>; they never
    /// repeat a URI, which may hold a password.
    /// </summary>
    public static StateStoreResult Open(string uri, StateStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        options ??= new StateStoreOptions();
        if (uri.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
            return SqliteStateStore.Open(uri["sqlite:".Length..], options);
        if (uri.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return PostgresStateStore.Open(uri, options);
        return StateStoreResult.Failure($"state: {Describe(uri)} is not a state store; use {AcceptedForms}");
    }

    /// <summary>
    /// Names what was given without echoing it: only the scheme of a <c>scheme://</c> value is safe to repeat
    /// (in <c>user:password@host</c> the part before the colon is a user name, after it a password).
    /// </summary>
    private static string Describe(string uri)
    {
        if (uri.Length == 0)
            return "an empty value";
        var end = uri.IndexOf("://", StringComparison.Ordinal);
        if (end is <= 0 or > 20)
            return "this value";
        var scheme = uri[..end];
        return char.IsAsciiLetter(scheme[0]) && scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.')
            ? $"scheme '{scheme}://'"
            : "this value";
    }
}

/// <summary>The outcome of <see cref="StateStore.Open"/>: a store, or one line for the operator.</summary>
public sealed class StateStoreResult
{
    private StateStoreResult(IStateStore? store, string? error)
    {
        Store = store;
        Error = error;
    }

    public IStateStore? Store { get; }

    public string? Error { get; }

    [MemberNotNullWhen(true, nameof(Store))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Success => Store is not null;

    internal static StateStoreResult Opened(IStateStore store) => new(store, null);

    internal static StateStoreResult Failure(string error) => new(null, error);
}
