namespace Gatehouse.State.Tests;

public sealed class StateStoreUriTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gatehouse-state-uri-").FullName;

    [Theory]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1:1/state", "state: cannot open postgres://127.0.0.1:1/state: ")]
    [InlineData("POSTGRESQL://gatehouse:hunter2@127.0.0.1:1/state?sslmode=disable", "state: cannot open postgres://127.0.0.1:1/state: ")]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1/", "state: the postgres:// value needs a database: postgres://USER@HOST/DATABASE")]
    [InlineData("postgres://:hunter2@127.0.0.1/state", "state: the postgres:// value needs a user: postgres://USER@HOST/DATABASE")]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1/state?sslmode=sometimes", "state: the postgres:// value sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full")]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1/state?connect_timeout=3", "state: the postgres:// value parameter 'connect_timeout' is not supported (use sslmode, sslrootcert, password_file)")]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1/state?hunter2%20x=1", "state: the postgres:// value has a query parameter that is not supported (use sslmode, sslrootcert, password_file)")]
    [InlineData("postgres://gatehouse:hunter2@127.0.0.1/state?password_file=/nonexistent", "state: the postgres:// value has both a password and password_file; use one")]
    [InlineData("postgres://gatehouse:hunter2@", "state: the postgres:// value is not a URI of the form postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")]
    public void Postgres_errors_are_one_line_that_does_not_echo_the_uri(string uri, string error)
    {
        var opened = StateStore.Open(uri);

        Assert.False(opened.Success);
        Assert.Null(opened.Store);
        Assert.StartsWith(error, opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("gatehouse:", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', opened.Error);
    }

    [Theory]
    [InlineData("", "an empty value")]
    [InlineData("gatehouse-state.db", "this value")]
    [InlineData("/var/lib/gatehouse/state.db", "this value")]
    [InlineData("file:/var/lib/gatehouse/state.db", "this value")]
    [InlineData("mysql://gatehouse:hunter2@db.internal/state", "scheme 'mysql://'")]
    [InlineData("gatehouse:hunter2@db.internal/state", "this value")]
    [InlineData("u$er://gatehouse:hunter2@db.internal", "this value")]
    public void Other_values_are_refused_naming_the_accepted_forms(string uri, string described)
    {
        var opened = StateStore.Open(uri);

        Assert.False(opened.Success);
        Assert.Equal($"state: {described} is not a state store; use sqlite:PATH or postgres://USER@HOST/DATABASE", opened.Error);
        Assert.DoesNotContain("hunter2", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("gatehouse:", opened.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite:")]
    [InlineData("sqlite:  ")]
    public void Sqlite_needs_a_path(string uri)
    {
        Assert.Equal("state: sqlite: needs a file path, e.g. sqlite:gatehouse-state.db", StateStore.Open(uri).Error);
    }

    [Fact]
    public async Task Sqlite_opens_a_store_creating_its_folder()
    {
        var path = Path.Combine(_directory, "nested", "deeper", "state.db");

        var opened = StateStore.Open("SQLite:" + path);

        Assert.True(opened.Success, opened.Error);
        await using var store = opened.Store;
        Assert.Empty(await store.Leases.ListAsync(default));
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_path_that_cannot_be_a_file_is_a_one_line_error()
    {
        var blocker = Path.Combine(_directory, "a-file");
        File.WriteAllText(blocker, "");

        var opened = StateStore.Open("sqlite:" + Path.Combine(blocker, "state.db"));

        Assert.False(opened.Success);
        Assert.StartsWith($"state: cannot open sqlite:{blocker}/state.db: ", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', opened.Error);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}
