using System.Globalization;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Runs the client-library programs under tests/clients (pgjdbc, psycopg, pgx) through the masking gateway, as the
/// column-masking grant, with the token as the password over TLS, and reads the "key: value" lines they print.
/// </summary>
internal static class LibraryClients
{
    // Orders ids the programs insert: far above the fixture's 1–30 and the leak tests' 9001+, 100 per run.
    private static int _nextIdBase = 600_000 + Random.Shared.Next(0, 10_000) * 100;

    public static string ProgramPath(params string[] parts) => Path.Combine([ProcessRunner.RepositoryRoot(), "tests", "clients", .. parts]);

    /// <summary>
    /// Runs one program; fails when it exits non-zero or when any raw masked value (in any form the fixture knows)
    /// appears in its output, so a leak shows even in a line no assertion reads.
    /// </summary>
    public static async Task<ClientOutput> RunAsync(MaskingFixture fixture, string file, IEnumerable<string> arguments, TimeSpan timeout,
        IDictionary<string, string>? environment = null)
    {
        int idBase = Interlocked.Add(ref _nextIdBase, 100);
        var env = fixture.LibpqEnvironment(MaskGrant.Columns);
        env["PGSSLMODE"] = "require";
        env["PROBE_ID_BASE"] = idBase.ToString(CultureInfo.InvariantCulture);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }

        try
        {
            var result = await ProcessRunner.RunAsync(file, arguments, env, timeout);
            string all = result.Stdout + result.Stderr;
            Assert.True(result.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited with {result.ExitCode}:\n{all}");
            foreach (var needle in MaskingFixture.Needles(MaskGrant.Columns))
            {
                Assert.False(all.Contains(needle.Text, StringComparison.OrdinalIgnoreCase), $"{needle.What} reached the client:\n{all}");
            }

            return new ClientOutput(result.Stdout);
        }
        finally
        {
            // A program that failed halfway leaves rows behind; other masking tests compare orders exactly.
            await fixture.Gateway.Postgres.ExecuteAsync($"DELETE FROM orders WHERE id BETWEEN {idBase} AND {idBase + 99}", "shop");
        }
    }

    /// <summary>Customers 1–5 as Npgsql reads them through the gateway with the same grant: "id|name|email|phone|ssn|card".</summary>
    public static async Task<IReadOnlyDictionary<int, string>> MaskedCustomersAsync(MaskingFixture fixture)
    {
        await using var connection = new NpgsqlConnection(fixture.NpgsqlSettings(MaskGrant.Columns).ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id <= 5 ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<int, string>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetInt32(0)] = string.Join('|', Enumerable.Range(0, 6).Select(i => Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)));
        }

        Assert.Equal(5, rows.Count);
        Assert.DoesNotContain(MaskingFixture.Customers[0].Email, rows[1], StringComparison.Ordinal);
        return rows;
    }

    /// <summary>"{prefix} n" for n = 1…executions must be customer (n-1) % 4 + 1, the id the programs pass.</summary>
    public static void AssertCustomerRows(ClientOutput output, string prefix, int executions, IReadOnlyDictionary<int, string> expected)
    {
        for (int n = 1; n <= executions; n++)
        {
            Assert.Equal(expected[(n - 1) % 4 + 1], output[$"{prefix} {n}"]);
        }
    }

    /// <summary>"{prefix} id" for customers 1–5 read by a cursor: "email|ssn".</summary>
    public static void AssertFetchedRows(ClientOutput output, string prefix, IReadOnlyDictionary<int, string> expected)
    {
        for (int id = 1; id <= 5; id++)
        {
            string[] columns = expected[id].Split('|');
            Assert.Equal($"{columns[2]}|{columns[4]}", output[$"{prefix} {id}"]);
        }
    }
}

/// <summary>The "key: value" lines a client program printed; a key printed twice is the program's bug.</summary>
internal sealed class ClientOutput
{
    private readonly Dictionary<string, string> _values = [];

    public ClientOutput(string stdout)
    {
        Text = stdout;
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            Assert.True(colon > 0 && _values.TryAdd(line[..colon], line[(colon + 2)..]), $"unexpected line \"{line}\" in:\n{stdout}");
        }
    }

    public string Text { get; }

    public string this[string key] =>
        _values.TryGetValue(key, out string? value) ? value : throw new Xunit.Sdk.XunitException($"no \"{key}\" line in:\n{Text}");

    /// <summary>Like Assert.StartsWith, but the failure shows the whole line (errors are longer than xunit's excerpt).</summary>
    public void AssertStartsWith(string key, string start) =>
        Assert.True(this[key].StartsWith(start, StringComparison.Ordinal), $"\"{key}\" is \"{this[key]}\", not \"{start}…\"");
}
