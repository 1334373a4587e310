using Gatehouse.State.Sqlite;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Tests;

/// <summary>A fresh SQLite file in a temporary folder per test.</summary>
public sealed class SqliteStoreFactory(StateStoreOptions? options = null) : IStateStoreFactory
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gatehouse-state-").FullName;

    public string Path => System.IO.Path.Combine(Directory, "state.db");

    public IStateStore Open()
    {
        var opened = StateStore.Open("sqlite:" + Path, options);
        return opened.Store ?? throw new InvalidOperationException(opened.Error);
    }

    public IDisposable HoldWriter(IStateStore store) => ((SqliteStateStore)store).HoldWriter();

    /// <summary>A connection of the test's own, to look at or shape the file behind the store's back.</summary>
    public SqliteConnection Connect()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
