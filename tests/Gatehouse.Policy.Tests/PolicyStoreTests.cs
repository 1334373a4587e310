using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Tests;

public sealed class PolicyStoreTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly string _dir = Directory.CreateTempSubdirectory("gatehouse-policy-").FullName;

    private string PolicyPath => Path.Combine(_dir, "policy.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Policy(string then) => $$"""
        identities:
          agents: { claims: { groups: ai-agents } }
        grants:
          - to: agents
            targets: [orders]
            db_roles: [app_read]
            rules:
              - { id: ddl, when: { class: ddl }, then: {{then}} }
        """;

    [Fact]
    public void Invalid_initial_file_fails_startup_with_every_error()
    {
        File.WriteAllText(PolicyPath, "identities: []\ngrants: {}\n");

        var ex = Assert.Throws<PolicyLoadException>(() => PolicyStore.Open(PolicyPath, new PolicyStoreOptions { Watch = false }));

        Assert.Equal(
            [$"{PolicyPath}:1:13: error: 'identities' must be a mapping, got a list", $"{PolicyPath}:2:9: error: 'grants' must be a list, got a mapping"],
            ex.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Reload_swaps_a_valid_change_and_keeps_the_last_good_policy_on_an_invalid_one()
    {
        File.WriteAllText(PolicyPath, Policy("deny"));
        using var store = PolicyStore.Open(PolicyPath, new PolicyStoreOptions { Watch = false });
        var results = new List<PolicyReloadResult>();
        store.Reloaded += results.Add;
        var first = store.Current;
        Assert.Equal(PolicyVerdict.Deny, Verdict(store.Current));

        Assert.Null(store.Reload()); // same content: nothing to do

        File.WriteAllText(PolicyPath, Policy("review") + "\nreviews: { approvers: agents }\n");
        var ok = store.Reload();
        Assert.True(ok!.Success);
        Assert.NotSame(first, store.Current);
        Assert.Same(store.Current, ok.Snapshot);
        Assert.Equal(PolicyVerdict.Review, Verdict(store.Current));

        var good = store.Current;
        File.WriteAllText(PolicyPath, Policy("maybe"));
        var bad = store.Reload();
        Assert.False(bad!.Success);
        Assert.Same(good, store.Current);
        Assert.Same(good, bad.Snapshot);
        Assert.Equal($"{PolicyPath}:8:48: error: 'then' must be allow, deny or review, got 'maybe'", Assert.Single(bad.Errors).ToString());

        Assert.Null(store.Reload()); // the same bad content is reported once
        Assert.Equal([ok, bad], results);
    }

    [Fact]
    public void Deleted_file_is_reported_and_the_policy_stays()
    {
        File.WriteAllText(PolicyPath, Policy("deny"));
        using var store = PolicyStore.Open(PolicyPath, new PolicyStoreOptions { Watch = false });
        var good = store.Current;

        File.Delete(PolicyPath);
        var result = store.Reload();

        Assert.False(result!.Success);
        Assert.Equal($"{PolicyPath}:1:1: error: file not found", Assert.Single(result.Errors).ToString());
        Assert.Same(good, store.Current);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Watching_applies_changes_without_a_manual_reload(bool pollOnly)
    {
        await File.WriteAllTextAsync(PolicyPath, Policy("deny"));
        var options = new PolicyStoreOptions { PollInterval = TimeSpan.FromMilliseconds(pollOnly ? 50 : 60_000), Debounce = TimeSpan.FromMilliseconds(20) };
        using var store = PolicyStore.Open(PolicyPath, options);
        // A reader may catch a file half-written and report it; wait for the outcome of the complete file.
        var valid = await Await(store, r => r.Success, () => File.WriteAllText(PolicyPath, Policy("allow")));

        Assert.True(valid.Success);
        Assert.Equal(PolicyVerdict.Allow, Verdict(store.Current));

        var invalid = await Await(store, r => r.Errors.Count == 1 && r.Errors[0].Line == 8, () => File.WriteAllText(PolicyPath, Policy("maybe")));

        Assert.False(invalid.Success);
        Assert.Equal($"{PolicyPath}:8:48: error: 'then' must be allow, deny or review, got 'maybe'", Assert.Single(invalid.Errors).ToString());
        Assert.Equal(PolicyVerdict.Allow, Verdict(store.Current));
    }

    [Fact]
    public void Time_provider_stamps_snapshots()
    {
        File.WriteAllText(PolicyPath, Policy("deny"));
        var time = new FixedTime(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));

        using var store = PolicyStore.Open(PolicyPath, new PolicyStoreOptions { Watch = false, Time = time });

        Assert.Equal(time.Now, store.Current.LoadedAt);
        Assert.Equal(64, store.Current.ContentHash.Length);
    }

    private static async Task<PolicyReloadResult> Await(PolicyStore store, Func<PolicyReloadResult, bool> wanted, Action change)
    {
        var next = new TaskCompletionSource<PolicyReloadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Action<PolicyReloadResult> handler = r =>
        {
            if (wanted(r))
            {
                next.TrySetResult(r);
            }
        };
        store.Reloaded += handler;
        try
        {
            change();
            return await next.Task.WaitAsync(Bound);
        }
        finally
        {
            store.Reloaded -= handler;
        }
    }

    private static PolicyVerdict Verdict(PolicySnapshot snapshot) =>
        snapshot.Decide(snapshot.Grants[0], Support.Facts(StatementClass.Ddl, "CREATE TABLE")).Verdict;

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
