using System.Net.Sockets;
using Npgsql;
using static Gatehouse.Credentials.RoleNames;

namespace Gatehouse.Credentials;

/// <summary>Why a provisioner action failed: a SQLSTATE for the client and a cause that names the problem, no secret.</summary>
internal sealed record ProvisionerFailure(string SqlState, string Cause)
{
    /// <summary>CREATE ROLE hit an existing name: try another.</summary>
    public bool Collision { get; init; }

    /// <summary>The role the action was about does not exist (any more).</summary>
    public bool RoleMissing { get; init; }
}

/// <summary>A gh_ role found on the server, with its VALID UNTIL.</summary>
internal sealed record ServerRole(string Name, DateTimeOffset? ValidUntil);

/// <summary>
/// The SQL Gatehouse runs as a target's provisioner: create, renew and drop leased roles, set a rotated
/// password, and check up front that the provisioner may do all that. Passwords only ever travel as
/// SCRAM-SHA-256 verifiers; identifiers are always quoted. Works on PostgreSQL 12–17: from 16 on,
/// granting a role needs ADMIN OPTION on it, before that CREATEROLE was enough.
/// </summary>
internal sealed class Provisioner : IAsyncDisposable
{
    private const int Pg16 = 16;
    private readonly NpgsqlDataSource _dataSource;

    public Provisioner(CredentialTarget target)
    {
        Target = target;
        var builder = target.ProvisionerDataSource("gatehouse-provisioner", maxPoolSize: 4, commandTimeoutSeconds: 15);
        builder.UsePasswordProvider(_ => ReadPassword(Target), (_, _) => ValueTask.FromResult(ReadPassword(Target)));
        _dataSource = builder.Build();
    }

    /// <summary>The latest settings for this server; replaced when the host passes a changed target for the same server.</summary>
    public CredentialTarget Target { get; set; }

    private string User => Target.ProvisionerUser;

    public async ValueTask<ProvisionerFailure?> CreateRoleAsync(
        string role, string verifier, DateTimeOffset validUntil, IReadOnlyList<string> dbRoles, CancellationToken ct)
    {
        var r = QuoteIdentifier(role);
        try
        {
            return await RunAsync<ProvisionerFailure?>(async conn =>
            {
                // One batch, one round trip, one implicit transaction: a failing GRANT leaves no role behind.
                await using var batch = new NpgsqlBatch(conn);
                batch.BatchCommands.Add(new NpgsqlBatchCommand(
                    $"CREATE ROLE {r} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT " +
                    $"CONNECTION LIMIT {Target.ConnectionLimit} VALID UNTIL {TimestampLiteral(validUntil)} PASSWORD {QuoteLiteral(verifier)}"));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"COMMENT ON ROLE {r} IS {QuoteLiteral(Marker)}"));
                if (dbRoles.Count > 0)
                    batch.BatchCommands.Add(new NpgsqlBatchCommand($"GRANT {string.Join(", ", dbRoles.Select(QuoteIdentifier))} TO {r}"));
                await batch.ExecuteNonQueryAsync(ct);
                return null;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DuplicateObject)
        {
            // Only CREATE ROLE raises this here (a repeated membership is a notice).
            return new ProvisionerFailure(ex.SqlState, $"role name {role} is already taken") { Collision = true };
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.UndefinedObject)
        {
            // The batch was rolled back; find out which privilege or role is missing, by name.
            var problems = await CheckAsync(dbRoles, ct);
            return new ProvisionerFailure(ex.SqlState, problems.Count > 0 ? string.Join("; ", problems) : $"provisioner {User} got {ex.SqlState}: {ex.MessageText}");
        }
        catch (Exception ex) when (IsExpected(ex, ct))
        {
            return Classify(ex);
        }
    }

    public async ValueTask<ProvisionerFailure?> RenewAsync(string role, DateTimeOffset validUntil, CancellationToken ct)
    {
        try
        {
            return await RunAsync<ProvisionerFailure?>(async conn =>
            {
                await using var cmd = new NpgsqlCommand($"ALTER ROLE {QuoteIdentifier(role)} VALID UNTIL {TimestampLiteral(validUntil)}", conn);
                await cmd.ExecuteNonQueryAsync(ct);
                return null;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedObject)
        {
            return new ProvisionerFailure(ex.SqlState, $"role {role} no longer exists") { RoleMissing = true };
        }
        catch (Exception ex) when (IsExpected(ex, ct))
        {
            return Classify(ex);
        }
    }

    /// <summary>Rotate mode: the password of <paramref name="role"/> for one period (<see cref="RotationPeriods"/>), or why it cannot be computed.</summary>
    public (string? Password, ProvisionerFailure? Failure) RotationPassword(string role, long period)
    {
        try
        {
            return (RotationPeriods.Password(ReadPassword(Target), User, role, period), null);
        }
        catch (ProvisionerPasswordException ex)
        {
            return (null, Classify(ex));
        }
    }

    /// <summary>Rotate mode: replace an existing role's password by a verifier.</summary>
    public async ValueTask<ProvisionerFailure?> SetPasswordAsync(string role, string verifier, CancellationToken ct)
    {
        var major = 0;
        try
        {
            return await RunAsync<ProvisionerFailure?>(async conn =>
            {
                major = conn.PostgreSqlVersion.Major;
                await using var cmd = new NpgsqlCommand($"ALTER ROLE {QuoteIdentifier(role)} PASSWORD {QuoteLiteral(verifier)}", conn);
                await cmd.ExecuteNonQueryAsync(ct);
                return null;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedObject)
        {
            return new ProvisionerFailure(ex.SqlState, $"role {role} does not exist") { RoleMissing = true };
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            var missing = major >= Pg16 ? $"ADMIN OPTION on role {role}" : "CREATEROLE";
            return new ProvisionerFailure(ex.SqlState, $"provisioner {User} lacks {missing} ({ex.MessageText})");
        }
        catch (Exception ex) when (IsExpected(ex, ct))
        {
            return Classify(ex);
        }
    }

    /// <summary>
    /// Ends a leased role: NOLOGIN (committed on its own, so it holds even if the drop fails), optionally
    /// terminates its backends, then drops it. When it owns objects, they go to the configured owner
    /// (REASSIGN OWNED) or are dropped (DROP OWNED), and the role with them, in one transaction.
    /// A role that is already gone counts as dropped.
    /// </summary>
    public async ValueTask<ProvisionerFailure?> DropRoleAsync(string role, CancellationToken ct)
    {
        try
        {
            return await RunAsync<ProvisionerFailure?>(async conn =>
            {
                await DropAsync(conn, role, ct);
                return null;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedObject && ex.MessageText.Contains(role, StringComparison.Ordinal))
        {
            return null;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DependentObjectsStillExist)
        {
            return new ProvisionerFailure(ex.SqlState, $"role {role} still owns objects or holds privileges in another database: {ex.MessageText}");
        }
        catch (Exception ex) when (IsExpected(ex, ct))
        {
            return Classify(ex);
        }
    }

    /// <summary>gh_ roles carrying the Gatehouse marker, with their VALID UNTIL.</summary>
    public ValueTask<IReadOnlyList<ServerRole>> ListLeaseRolesAsync(CancellationToken ct) =>
        RunAsync<IReadOnlyList<ServerRole>>(conn => ListLeaseRolesAsync(conn, ct), ct);

    private static async ValueTask<IReadOnlyList<ServerRole>> ListLeaseRolesAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            @"SELECT rolname, rolvaliduntil FROM pg_catalog.pg_roles WHERE rolname LIKE 'gh\_%' AND pg_catalog.shobj_description(oid, 'pg_authid') = $1",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = Marker });
        var roles = new List<ServerRole>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            DateTimeOffset? validUntil = null;
            if (!await reader.IsDBNullAsync(1, ct))
            {
                var value = reader.GetDateTime(1);
                validUntil = value == DateTime.MaxValue ? DateTimeOffset.MaxValue
                    : value == DateTime.MinValue ? DateTimeOffset.MinValue
                    : new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Utc));
            }
            roles.Add(new ServerRole(reader.GetString(0), validUntil));
        }
        return roles;
    }

    /// <summary>
    /// Checks that the provisioner can do its job for these db roles; each problem names what is missing.
    /// Empty means ready.
    /// </summary>
    public async ValueTask<IReadOnlyList<string>> CheckAsync(IEnumerable<string> dbRoles, CancellationToken ct)
    {
        try
        {
            return await RunAsync(conn => CheckAsync(conn, dbRoles, ct), ct);
        }
        catch (Exception ex) when (IsExpected(ex, ct))
        {
            return [Classify(ex).Cause];
        }
    }

    private async ValueTask<IReadOnlyList<string>> CheckAsync(NpgsqlConnection conn, IEnumerable<string> dbRoles, CancellationToken ct)
    {
        var problems = new List<string>();
        var version = conn.PostgreSqlVersion;
        if (version.Major < 12)
            problems.Add($"PostgreSQL {version} is older than 12, which Gatehouse needs");

        bool super, createRole;
        await using (var cmd = new NpgsqlCommand("SELECT rolsuper, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user", conn))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            super = reader.GetBoolean(0);
            createRole = reader.GetBoolean(1);
        }

        if (!super && !createRole)
            problems.Add($"provisioner {User} lacks CREATEROLE");

        List<string> roles = Target.Mode == UpstreamCredentialMode.Rotate
            ? (Target.Role is null ? [] : [Target.Role])
            : [.. dbRoles.Distinct(StringComparer.Ordinal)];
        if (Target.Mode == UpstreamCredentialMode.Rotate && Target.Role is null)
            problems.Add("credentials.role is not set for mode rotate");
        if (Target.Mode == UpstreamCredentialMode.Ephemeral && Target.ReassignOwnedTo is { } owner)
            roles.Add(owner);

        foreach (var role in roles)
        {
            var isOwner = Target.Mode == UpstreamCredentialMode.Ephemeral && role == Target.ReassignOwnedTo;
            await using var cmd = new NpgsqlCommand(
                """
                SELECT r.rolsuper,
                       pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION'),
                       pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
                FROM pg_catalog.pg_roles r WHERE r.rolname = $1
                """, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = role });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                problems.Add($"role {role} does not exist");
                continue;
            }
            var roleIsSuper = reader.GetBoolean(0);
            var admin = reader.GetBoolean(1);
            var usage = reader.GetBoolean(2);
            if (isOwner)
            {
                if (!usage)
                    problems.Add($"provisioner {User} lacks the privileges of role {role} (needed by credentials.owner for REASSIGN OWNED)");
            }
            else if (roleIsSuper && !super)
            {
                problems.Add($"role {role} is a superuser; Gatehouse will not {(Target.Mode == UpstreamCredentialMode.Rotate ? "rotate its password" : "grant it")}");
            }
            else if (version.Major >= Pg16 && !admin)
            {
                problems.Add($"provisioner {User} lacks ADMIN OPTION on role {role}");
            }
        }

        if (Target.Mode == UpstreamCredentialMode.Ephemeral && Target.TerminateOnExpiry && !super)
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')", conn);
            if (await cmd.ExecuteScalarAsync(ct) is not true)
                problems.Add($"provisioner {User} lacks membership in pg_signal_backend (needed by credentials.terminate_on_expiry)");
        }
        return problems;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task DropAsync(NpgsqlConnection conn, string role, CancellationToken ct)
    {
        var r = QuoteIdentifier(role);
        await using (var batch = new NpgsqlBatch(conn))
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"ALTER ROLE {r} NOLOGIN"));
            if (Target.TerminateOnExpiry)
            {
                var terminate = new NpgsqlBatchCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1");
                terminate.Parameters.Add(new NpgsqlParameter { Value = role });
                batch.BatchCommands.Add(terminate);
            }
            await batch.ExecuteNonQueryAsync(ct);
        }

        await using var tx = await conn.BeginTransactionAsync(ct);
        await tx.SaveAsync("plain_drop", ct);
        try
        {
            await using var drop = new NpgsqlCommand($"DROP ROLE {r}", conn, tx);
            await drop.ExecuteNonQueryAsync(ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DependentObjectsStillExist)
        {
            await tx.RollbackAsync("plain_drop", ct);
            // REASSIGN/DROP OWNED need the privileges of the role: take them for the rest of this transaction.
            var self = conn.PostgreSqlVersion.Major >= Pg16 ? $"GRANT {r} TO CURRENT_USER WITH INHERIT TRUE" : $"GRANT {r} TO CURRENT_USER";
            await using var batch = new NpgsqlBatch(conn, tx);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(self));
            if (Target.ReassignOwnedTo is { } owner)
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"REASSIGN OWNED BY {r} TO {QuoteIdentifier(owner)}"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"DROP OWNED BY {r}"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"DROP ROLE {r}"));
            await batch.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>Runs one action on a pooled connection, retried once on a fresh one when the server had ended it (<see cref="EndedConnections"/>).</summary>
    private ValueTask<T> RunAsync<T>(Func<NpgsqlConnection, ValueTask<T>> action, CancellationToken ct) =>
        EndedConnections.RetryOnceAsync(_dataSource, action, ct);

    private static string ReadPassword(CredentialTarget target)
    {
        try
        {
            return target.ProvisionerPassword();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            throw new ProvisionerPasswordException(ex.Message, ex);
        }
    }

    private static bool IsExpected(Exception ex, CancellationToken ct) =>
        !ct.IsCancellationRequested && ex is NpgsqlException or ProvisionerPasswordException or SocketException or IOException or TimeoutException or OperationCanceledException;

    private ProvisionerFailure Classify(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is ProvisionerPasswordException password)
                return new ProvisionerFailure(PostgresErrorCodes.SqlServerRejectedEstablishmentOfSqlConnection, $"the password of provisioner {User} cannot be read: {password.Message}");
        }

        if (ex is PostgresException pg)
        {
            return pg.SqlState switch
            {
                PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification =>
                    new ProvisionerFailure(PostgresErrorCodes.SqlServerRejectedEstablishmentOfSqlConnection, $"provisioner {User} cannot log in: {pg.MessageText}"),
                PostgresErrorCodes.InvalidCatalogName =>
                    new ProvisionerFailure(PostgresErrorCodes.SqlServerRejectedEstablishmentOfSqlConnection, $"database {Target.Database} does not exist"),
                PostgresErrorCodes.TooManyConnections =>
                    new ProvisionerFailure(pg.SqlState, $"the server refused the provisioner: {pg.MessageText}"),
                _ => new ProvisionerFailure(PostgresErrorCodes.SystemError, $"provisioner {User} got {pg.SqlState}: {pg.MessageText}"),
            };
        }

        var root = ex;
        while (root.InnerException is not null)
            root = root.InnerException;
        var detail = root == ex ? ex.Message : $"{ex.Message} ({root.Message})";
        return new ProvisionerFailure(PostgresErrorCodes.SqlClientUnableToEstablishSqlConnection, $"cannot reach {Target.Host}:{Target.Port}: {detail}");
    }
}

/// <summary>The provisioner password file or variable could not be read.</summary>
internal sealed class ProvisionerPasswordException(string message, Exception inner) : Exception(message, inner);
