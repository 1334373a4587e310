namespace Gatehouse.Audit.Tests;

/// <summary>A chain written by the real trail into a real SQLite file, then changed by hand: verify names the record.</summary>
public sealed class VerifierTests : IAsyncLifetime
{
    // chain.start, then three sessions of 6, 6 and 5 records, then chain.end.
    private const long Total = 19;
    private readonly TrailFiles _files = new();

    public Task InitializeAsync() => _files.WriteChainAsync(sessions: 3);

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    [Fact]
    public async Task An_untouched_trail_verifies_without_notes()
    {
        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Equal(1, result.Chains);
        Assert.Equal(Total, result.Records);
        Assert.Empty(result.Notes);
    }

    [Theory]
    [InlineData("body", "UPDATE audit_records SET body = replace(body, 'customers', 'orders') WHERE seq = 9", 9, "statement record altered")]
    [InlineData("kind", "UPDATE audit_records SET kind = 'outcome' WHERE seq = 5", 5, "outcome record altered")]
    [InlineData("time", "UPDATE audit_records SET time = time + 1000 WHERE seq = 12", 12, "record altered")]
    [InlineData("session", "UPDATE audit_records SET session_id = 'gw-1-s1' WHERE seq = 8", 8, "record altered")]
    [InlineData("mac", "UPDATE audit_records SET mac = zeroblob(32) WHERE seq = 3", 3, "record altered")]
    [InlineData("middle deleted", "DELETE FROM audit_records WHERE seq = 10", 10, "record 10 is missing (the chain continues at 11)")]
    [InlineData("first deleted", "DELETE FROM audit_records WHERE seq = 1", 1, "record 1 is missing")]
    [InlineData("several deleted", "DELETE FROM audit_records WHERE seq BETWEEN 4 AND 7", 4, "records 4–7 are missing")]
    [InlineData("seq swapped", "UPDATE audit_records SET seq = -seq WHERE seq IN (6, 7); UPDATE audit_records SET seq = 7 WHERE seq = -6; UPDATE audit_records SET seq = 6 WHERE seq = -7", 6, "record altered, moved or forged")]
    public async Task A_changed_record_is_named_and_fails(string change, string sql, long seq, string what)
    {
        Assert.True(_files.Execute(sql) > 0, change);
        var result = await _files.VerifyAsync();
        Assert.False(result.Intact, change);
        var broken = Assert.Single(result.Breaks);
        Assert.Equal("gw-1", broken.Chain);
        Assert.Equal(seq, broken.Seq);
        Assert.Contains(what, broken.What, StringComparison.Ordinal);
        Assert.StartsWith($"chain gw-1 record {seq}: ", broken.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_record_with_a_recomputed_mac_but_another_key_fails()
    {
        var other = AuditKey.FromBytes(new byte[32]);
        var result = await _files.VerifyAsync(other);
        var broken = Assert.Single(result.Breaks);
        Assert.Equal(1, broken.Seq);
        Assert.Contains("or the trail was written with another audit key", broken.What, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_break_after_the_first_record_does_not_blame_the_key()
    {
        _files.Execute("UPDATE audit_records SET mac = zeroblob(32) WHERE seq = 3");
        var broken = Assert.Single((await _files.VerifyAsync()).Breaks);
        Assert.DoesNotContain("audit key", broken.What, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Removing_the_tail_leaves_only_a_note_about_the_missing_chain_end()
    {
        _files.Execute($"DELETE FROM audit_records WHERE seq >= {Total - 2}");
        var result = await _files.VerifyAsync();
        Assert.True(result.Intact);
        Assert.Equal(Total - 3, result.Records);
        Assert.Contains($"has no chain.end record after record {Total - 3}", Assert.Single(result.Notes), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_chain_reports_its_own_first_break()
    {
        await _files.WriteChainAsync(sessions: 1, chain: "gw-2");
        _files.Execute("DELETE FROM audit_records WHERE chain = 'gw-2' AND seq = 3; UPDATE audit_records SET body = body || ' ' WHERE chain = 'gw-1' AND seq IN (4, 8)");
        var result = await _files.VerifyAsync();
        Assert.Equal(2, result.Chains);
        Assert.Equal([("gw-1", 4L), ("gw-2", 3L)], result.Breaks.Select(b => (b.Chain, b.Seq)));
    }
}
