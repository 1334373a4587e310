namespace Gatehouse.State.Tests;

/// <summary>
/// What every <see cref="IReviewStore"/> must do, as the approval workflow relies on it: requests round-trip,
/// votes follow the rules, every state change has exactly one outcome even when instances race, and a change
/// releases whoever waits on this store.
/// </summary>
public abstract class ReviewStoreContract(IStateStoreFactory factory) : StoreContract(factory)
{
    protected static ReviewRecord Review(string id, int minutes = 0, string fingerprint = "fp1", string subject = "agent", int required = 1, DateTimeOffset? expires = null) =>
        new(id, fingerprint, subject, "https://idp.example", "orders", "s-1", "DELETE FROM orders WHERE id = $1", ["42"],
            "deletes", "deleting orders needs a human", "hold", Now.AddMinutes(minutes), expires ?? Now.AddMinutes(minutes + 30),
            ReviewStatus.Pending, required, 0, "gh-1");

    protected static ReviewVote Approve(string id, string reviewer = "alice", string issuer = "https://idp.example", string? reason = "looks right") =>
        new(id, reviewer, issuer, true, reason, Now.AddMinutes(1));

    protected static ReviewVote Reject(string id, string reviewer = "bob", string? reason = "not today") =>
        new(id, reviewer, "https://idp.example", false, reason, Now.AddMinutes(1));

    [Fact]
    public async Task A_request_round_trips_with_its_parameters_and_times()
    {
        var reviews = Open().Reviews;
        var review = Review("r-1") with
        {
            Sql = "UPDATE t SET a = $1, b = $2, c = $3",
            Parameters = ["it's \"quoted\" ✓", null, "line\nbreak\u0000nul"],
            Created = Now.AddMilliseconds(7),
            Expires = Now.AddMinutes(5).AddMilliseconds(3),
        };
        await reviews.InsertAsync(review, default);

        var row = await reviews.GetAsync("r-1", default);

        AssertSame(review, row);
        Assert.Null(await reviews.GetAsync("r-2", default));
    }

    [Fact]
    public async Task Lists_are_newest_first_by_status_and_limited()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-old", minutes: 0), default);
        await reviews.InsertAsync(Review("r-new", minutes: 2), default);
        await reviews.InsertAsync(Review("r-mid", minutes: 1), default);
        Assert.True((await reviews.VoteAsync(Approve("r-mid"), Now, default)).Counted);

        Assert.Equal(["r-new", "r-mid", "r-old"], (await reviews.ListAsync(null, 10, default)).Select(r => r.Id));
        Assert.Equal(["r-new", "r-old"], (await reviews.ListAsync(ReviewStatus.Pending, 10, default)).Select(r => r.Id));
        Assert.Equal(["r-mid"], (await reviews.ListAsync(ReviewStatus.Approved, 10, default)).Select(r => r.Id));
        Assert.Equal(["r-new"], (await reviews.ListAsync(null, 1, default)).Select(r => r.Id));
        Assert.Empty(await reviews.ListAsync(ReviewStatus.Rejected, 10, default));
    }

    [Fact]
    public async Task One_approval_decides_a_request_that_needs_one()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1"), default);

        var result = await reviews.VoteAsync(Approve("r-1", reason: "checked the id"), Now, default);

        Assert.True(result.Counted);
        Assert.Equal(ReviewStatus.Approved, result.Review!.Status);
        Assert.Equal(1, result.Review.Approvals);
        Assert.Equal(Now.AddMinutes(1), result.Review.Decided);
        Assert.Equal("checked the id", result.Review.DecisionReason);
        AssertSame(result.Review, await reviews.GetAsync("r-1", default));
        var late = await reviews.VoteAsync(Reject("r-1"), Now, default);
        Assert.Equal("review r-1 is already approved", late.Error);
        Assert.Null(late.Review);
        Assert.Equal([Approve("r-1", reason: "checked the id")], await reviews.VotesAsync("r-1", default));
    }

    [Fact]
    public async Task Two_required_approvals_need_two_distinct_reviewers()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1", required: 2), default);

        var first = await reviews.VoteAsync(Approve("r-1", "alice"), Now, default);
        Assert.Equal((ReviewStatus.Pending, 1, (DateTimeOffset?)null), (first.Review!.Status, first.Review.Approvals, first.Review.Decided));

        var again = await reviews.VoteAsync(Approve("r-1", "alice", reason: "really"), Now, default);
        Assert.Equal("review r-1: alice already voted", again.Error);
        Assert.Equal(1, (await reviews.GetAsync("r-1", default))!.Approvals);

        // the same name from another issuer is another identity
        var second = await reviews.VoteAsync(Approve("r-1", "alice", issuer: "https://other.example", reason: "second pair of eyes"), Now, default);
        Assert.Equal((ReviewStatus.Approved, 2, "second pair of eyes"), (second.Review!.Status, second.Review.Approvals, second.Review.DecisionReason));
        Assert.Equal(["https://idp.example", "https://other.example"], (await reviews.VotesAsync("r-1", default)).Select(v => v.ReviewerIssuer));
    }

    [Fact]
    public async Task A_rejection_decides_at_once()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1", required: 2), default);
        Assert.True((await reviews.VoteAsync(Approve("r-1", "alice"), Now, default)).Counted);

        var rejected = await reviews.VoteAsync(Reject("r-1", "bob", "wrong table"), Now, default);

        Assert.Equal((ReviewStatus.Rejected, 1, "wrong table"), (rejected.Review!.Status, rejected.Review.Approvals, rejected.Review.DecisionReason));
        Assert.Equal(Now.AddMinutes(1), rejected.Review.Decided);
        Assert.Equal("review r-1 is already rejected", (await reviews.VoteAsync(Approve("r-1", "carol"), Now, default)).Error);
        Assert.Equal(2, (await reviews.VotesAsync("r-1", default)).Count);
    }

    [Fact]
    public async Task Votes_on_expired_unknown_or_own_requests_do_not_count()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1", expires: Now.AddMinutes(5)), default);

        Assert.Equal("review r-1 has expired", (await reviews.VoteAsync(Approve("r-1"), Now.AddMinutes(5), default)).Error);
        Assert.Equal("review r-9 does not exist", (await reviews.VoteAsync(Approve("r-9"), Now, default)).Error);
        Assert.Equal("review r-1 cannot be approved by the identity that asked for it", (await reviews.VoteAsync(Approve("r-1", "agent"), Now, default)).Error);
        Assert.Empty(await reviews.VotesAsync("r-1", default));
        Assert.Equal(ReviewStatus.Pending, (await reviews.GetAsync("r-1", default))!.Status);
        Assert.True((await reviews.VoteAsync(Approve("r-1"), Now.AddMinutes(5).AddMilliseconds(-1), default)).Counted);
    }

    [Fact]
    public async Task Close_moves_only_a_pending_request()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1"), default);
        await reviews.InsertAsync(Review("r-2"), default);
        Assert.True((await reviews.VoteAsync(Approve("r-2"), Now, default)).Counted);

        Assert.True(await reviews.CloseAsync("r-1", ReviewStatus.Withdrawn, "cancelled by the client", Now.AddMinutes(2), default));
        Assert.False(await reviews.CloseAsync("r-1", ReviewStatus.Expired, "timed out", Now.AddMinutes(3), default));
        Assert.False(await reviews.CloseAsync("r-2", ReviewStatus.Withdrawn, "cancelled by the client", Now, default));
        Assert.False(await reviews.CloseAsync("r-9", ReviewStatus.Withdrawn, "cancelled by the client", Now, default));

        var closed = await reviews.GetAsync("r-1", default);
        Assert.Equal((ReviewStatus.Withdrawn, "cancelled by the client", (DateTimeOffset?)Now.AddMinutes(2)), (closed!.Status, closed.DecisionReason, closed.Decided));
        Assert.Equal("review r-1 is already withdrawn", (await reviews.VoteAsync(Approve("r-1"), Now, default)).Error);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => reviews.CloseAsync("r-1", ReviewStatus.Approved, "no", Now, default));
    }

    [Fact]
    public async Task An_approval_is_used_once_and_only_while_valid()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1", expires: Now.AddMinutes(10)), default);
        await reviews.InsertAsync(Review("r-2", expires: Now.AddMinutes(10)), default);
        Assert.False(await reviews.UseAsync("r-1", Now, default)); // pending
        Assert.True((await reviews.VoteAsync(Approve("r-1"), Now, default)).Counted);
        Assert.True((await reviews.VoteAsync(Approve("r-2"), Now, default)).Counted);

        Assert.False(await reviews.UseAsync("r-2", Now.AddMinutes(10), default));
        Assert.True(await reviews.UseAsync("r-1", Now, default));
        Assert.False(await reviews.UseAsync("r-1", Now, default));
        Assert.Equal(ReviewStatus.Used, (await reviews.GetAsync("r-1", default))!.Status);
        Assert.Equal(ReviewStatus.Approved, (await reviews.GetAsync("r-2", default))!.Status);
    }

    [Fact]
    public async Task Of_many_racing_uses_across_instances_exactly_one_wins()
    {
        var (a, b) = (Open().Reviews, Open().Reviews);
        await a.InsertAsync(Review("r-1"), default);
        Assert.True((await a.VoteAsync(Approve("r-1"), Now, default)).Counted);

        var uses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).UseAsync("r-1", Now, default))));

        Assert.Equal(1, uses.Count(used => used));
    }

    [Fact]
    public async Task Find_approved_takes_the_newest_valid_approval_for_the_fingerprint()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-old", minutes: 0), default);
        await reviews.InsertAsync(Review("r-new", minutes: 1, expires: Now.AddMinutes(20)), default);
        await reviews.InsertAsync(Review("r-pending", minutes: 2), default);
        await reviews.InsertAsync(Review("r-other", minutes: 3, fingerprint: "fp2"), default);
        foreach (var id in new[] { "r-old", "r-new", "r-other" })
            Assert.True((await reviews.VoteAsync(Approve(id), Now, default)).Counted);

        Assert.Equal("r-new", (await reviews.FindApprovedAsync("fp1", Now, default))?.Id);
        Assert.Equal("r-old", (await reviews.FindApprovedAsync("fp1", Now.AddMinutes(20), default))?.Id); // r-new expired
        Assert.True(await reviews.UseAsync("r-new", Now, default));
        Assert.Equal("r-old", (await reviews.FindApprovedAsync("fp1", Now, default))?.Id);
        Assert.True(await reviews.UseAsync("r-old", Now, default));
        Assert.Null(await reviews.FindApprovedAsync("fp1", Now, default));
        Assert.Equal("r-other", (await reviews.FindApprovedAsync("fp2", Now, default))?.Id);
    }

    [Fact]
    public async Task Count_pending_counts_one_identitys_live_requests()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1"), default);
        await reviews.InsertAsync(Review("r-2", expires: Now.AddMinutes(1)), default);
        await reviews.InsertAsync(Review("r-3"), default);
        await reviews.InsertAsync(Review("r-4", subject: "other"), default);
        await reviews.InsertAsync(Review("r-5") with { Issuer = "https://other.example" }, default);
        Assert.True((await reviews.VoteAsync(Reject("r-3"), Now, default)).Counted);

        Assert.Equal(2, await reviews.CountPendingAsync("agent", "https://idp.example", Now, default));
        Assert.Equal(1, await reviews.CountPendingAsync("agent", "https://idp.example", Now.AddMinutes(1), default));
        Assert.Equal(1, await reviews.CountPendingAsync("other", "https://idp.example", Now, default));
        Assert.Equal(0, await reviews.CountPendingAsync("nobody", "https://idp.example", Now, default));
    }

    [Fact]
    public async Task Racing_approvals_and_rejections_through_two_instances_have_exactly_one_outcome()
    {
        var (a, b) = (Open().Reviews, Open().Reviews);
        const int Requests = 60;
        for (var i = 0; i < Requests; i++)
            await a.InsertAsync(Review($"r-{i}", required: i % 2 == 0 ? 1 : 2), default);

        // Per request: two approvers and one rejecter at once, spread over both instances.
        var votes = Enumerable.Range(0, Requests).SelectMany(i => new[]
        {
            (Store: a, Vote: Approve($"r-{i}", "alice")),
            (Store: b, Vote: Approve($"r-{i}", "carol")),
            (Store: i % 3 == 0 ? a : b, Vote: Reject($"r-{i}", "bob")),
        }).ToList();
        var results = await Task.WhenAll(votes.Select(v => Task.Run(() => v.Store.VoteAsync(v.Vote, Now, default))));

        var decided = new Dictionary<ReviewStatus, int>();
        for (var i = 0; i < Requests; i++)
        {
            var id = $"r-{i}";
            var counted = votes.Zip(results).Where(p => p.First.Vote.ReviewId == id && p.Second.Counted).Select(p => p.First.Vote).ToList();
            var review = (await a.GetAsync(id, default))!;
            var stored = await b.VotesAsync(id, default);
            Assert.Equal(counted.OrderBy(v => v.Reviewer), stored.OrderBy(v => v.Reviewer));
            Assert.Equal(counted.Count(v => v.Approve), review.Approvals);
            var rejected = counted.Any(v => !v.Approve);
            // Exactly one outcome: rejected (nothing counted after it) or approved (the rejection refused).
            Assert.Equal(rejected ? ReviewStatus.Rejected : ReviewStatus.Approved, review.Status);
            if (rejected)
                Assert.True(review.Approvals < review.Required);
            else
                Assert.Equal(review.Required, review.Approvals);
            var refused = results.Zip(votes).Where(p => p.Second.Vote.ReviewId == id && !p.First.Counted).Select(p => p.First.Error);
            Assert.All(refused, error => Assert.Equal($"review {id} is already {review.Status.ToString().ToLowerInvariant()}", error));
            decided[review.Status] = decided.GetValueOrDefault(review.Status) + 1;
        }
        Assert.Equal(Requests, decided.Values.Sum());
        Assert.All(Stores, store => Assert.Equal(0, store.WriterStats.FailedWrites)); // a deadlock between batches is replayed, never lost
    }

    [Fact]
    public async Task A_change_releases_waiters_on_the_same_instance()
    {
        var reviews = Open().Reviews;
        await reviews.InsertAsync(Review("r-1"), default);
        await SettleAsync(reviews);

        var wait = reviews.WaitForChangeAsync(default);
        await Task.Delay(200);
        Assert.False(wait.IsCompleted);
        Assert.True((await reviews.VoteAsync(Approve("r-1"), Now, default)).Counted);
        await wait.WaitAsync(TimeSpan.FromSeconds(1));

        using var cancel = new CancellationTokenSource();
        var cancelled = reviews.WaitForChangeAsync(cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
    }

    /// <summary>Records compare their parameter lists by reference: compare those by value.</summary>
    protected static void AssertSame(ReviewRecord expected, ReviewRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { Parameters = [] }, actual with { Parameters = [] });
        Assert.Equal(expected.Parameters, actual.Parameters);
    }

    /// <summary>Lets a store's own start-up signals (PostgreSQL: LISTEN in place) pass, so the next wait waits for a change.</summary>
    protected virtual Task SettleAsync(IReviewStore reviews) => Task.CompletedTask;
}
