namespace Gatehouse.State.Tests;

/// <summary>The plumbing of the contract suites: a factory per test and the stores it opened, disposed after the test.</summary>
public abstract class StoreContract(IStateStoreFactory factory) : IAsyncLifetime
{
    protected static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_600_000);

    private readonly List<IStateStore> _stores = [];

    protected IStateStoreFactory Factory => factory;

    /// <summary>The stores this test opened, in order.</summary>
    protected IReadOnlyList<IStateStore> Stores => _stores;

    /// <summary>A store on this test's data, disposed after the test.</summary>
    protected IStateStore Open()
    {
        var store = factory.Open();
        _stores.Add(store);
        return store;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _stores)
            await store.DisposeAsync();
        await factory.DisposeAsync();
    }
}
