using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Sessions log in upstream as short-lived roles minted for their identity, never as the provisioner.</summary>
[Collection(GatewayCollection.Name)]
public sealed class CredentialTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_session_runs_as_a_leased_role_with_exactly_the_granted_roles()
    {
        await using var connection = await fixture.OpenAsync(fixture.Token("lease-check"));
        await using var whoami = new NpgsqlCommand("SELECT current_user", connection);
        string role = (string)(await whoami.ExecuteScalarAsync())!;
        Assert.StartsWith("gh_lease_check_", role, StringComparison.Ordinal);

        var members = await fixture.Postgres.ScalarAsync<string>(
            $"SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = '{role}'");
        Assert.Equal("app_read,app_write", members);
        Assert.True(await fixture.Postgres.ScalarAsync<bool>($"SELECT rolvaliduntil > now() AND rolcanlogin AND NOT rolsuper AND NOT rolcreaterole FROM pg_roles WHERE rolname = '{role}'"));

        await using var again = await fixture.OpenAsync(fixture.Token("lease-check"));
        await using var whoamiAgain = new NpgsqlCommand("SELECT current_user", again);
        Assert.Equal(role, await whoamiAgain.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_leased_role_lacks_what_the_grant_does_not_give()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", connection);
        Assert.Equal(false, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_server_log_never_shows_a_plaintext_password()
    {
        await using (var connection = await fixture.OpenAsync(fixture.Token($"log-check-{Guid.NewGuid():N}"[..20])))
        {
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync();
        }

        string log = await File.ReadAllTextAsync(fixture.Postgres.LogFile);
        int checkedPasswords = 0;
        foreach (System.Text.RegularExpressions.Match match in System.Text.RegularExpressions.Regex.Matches(log, @"PASSWORD\s+'([^']*)'", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            Assert.StartsWith("SCRAM-SHA-256$", match.Groups[1].Value, StringComparison.Ordinal);
            checkedPasswords++;
        }

        Assert.True(checkedPasswords > 0, "expected the role creation in the log (log_statement=all)");
    }
}
