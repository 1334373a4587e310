using System.Globalization;
using System.Security.Cryptography;

namespace Gatehouse.IntegrationTests;

/// <summary>A fresh database on a test PostgreSQL as the gateway's state store, and the audit key its instances share.</summary>
internal sealed record AuditPostgresStore(TestGateway Fixture, string Database, string Uri, string KeyFile)
{
    public static async Task<AuditPostgresStore> CreateAsync(TestGateway fixture)
    {
        string database = $"gatehouse_state_{Guid.NewGuid():N}"[..32];
        await fixture.Postgres.ExecuteAsync($"CREATE DATABASE {database}");
        string keyFile = Path.Combine(fixture.Directory, $"{database}.key");
        await File.WriteAllTextAsync(keyFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
        var pg = fixture.Postgres;
        string port = pg.Port.ToString(CultureInfo.InvariantCulture);
        string uri = $"postgres://{System.Uri.EscapeDataString(pg.SuperUser)}:{System.Uri.EscapeDataString(pg.SuperUserPassword)}@127.0.0.1:{port}/{database}?sslmode=prefer";
        return new AuditPostgresStore(fixture, database, uri, keyFile);
    }

    /// <summary>A gateway process (not started) of the fixture's configuration on this store.</summary>
    public GatewayProcess Prepare(string durability = "process") =>
        GatewayProcess.Prepare(Fixture, state: Uri, extra: $"audit:\n  key_file: {KeyFile}\n  durability: {durability}\n");

    public Task<T?> ScalarAsync<T>(string sql) => Fixture.Postgres.ScalarAsync<T>(sql, Database);

    public Task ExecuteAsync(string sql) => Fixture.Postgres.ExecuteAsync(sql, Database);
}
