namespace Gatehouse.State.Tests;

/// <summary>
/// What a store implementation gives the contract suites: one factory per test, with a fresh, empty store
/// behind it. A PostgreSQL store later brings its own factory (a fresh database per test) and runs the same suites.
/// </summary>
public interface IStateStoreFactory : IAsyncDisposable
{
    /// <summary>
    /// Opens a store on this factory's data. Every call reaches the same data, as two gateway instances
    /// sharing one <c>state:</c> would; each store has its own writer.
    /// </summary>
    IStateStore Open();

    /// <summary>Holds the store's writer until the handle is disposed: writes queue up, then commit together.</summary>
    IDisposable HoldWriter(IStateStore store);
}
