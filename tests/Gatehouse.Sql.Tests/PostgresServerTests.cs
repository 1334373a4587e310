using Gatehouse.Testing;

namespace Gatehouse.Sql.Tests;

[Collection("postgres")]
public sealed class PostgresServerTests(PostgresFixture fixture)
{
    [Fact]
    public async Task Server_answers_queries_and_logs_statements()
    {
        var server = fixture.Server;
        Assert.Equal("127.0.0.1", server.Host);
        Assert.True(File.Exists(Path.Combine(server.BinDirectory, "pg_ctl")));
        Assert.Equal(42, await server.ScalarAsync<int>("select 40 + 2"));
        await server.ExecuteAsync("create table if not exists fixture_probe(id int)");
        Assert.Equal(0L, await server.ScalarAsync<long>("select count(*) from fixture_probe"));
        Assert.Contains("fixture_probe", await File.ReadAllTextAsync(server.LogFile));
    }

    [Fact]
    public async Task Ssl_and_md5_server_starts_and_is_removed_on_dispose()
    {
        string dataDir;
        await using (var server = await PostgresServer.StartAsync(new PostgresServerOptions { Ssl = true, HostAuthMethod = "md5" }))
        {
            dataDir = server.DataDirectory;
            Assert.True(File.Exists(server.CertificatePath));
            Assert.True(await server.ScalarAsync<bool>("select ssl from pg_stat_ssl where pid = pg_backend_pid()"));
            Assert.StartsWith("md5", await server.ScalarAsync<string>("select rolpassword from pg_authid where rolname = 'postgres'"));
        }
        Assert.False(Directory.Exists(dataDir));
    }
}
