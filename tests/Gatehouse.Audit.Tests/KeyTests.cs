using System.Security.Cryptography;
using Gatehouse.State;

namespace Gatehouse.Audit.Tests;

public sealed class KeyTests : IAsyncLifetime
{
    private static readonly DateTimeOffset When = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TrailFiles _files = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    [Fact]
    public void A_created_key_file_is_owner_only_and_reads_back_as_the_same_key()
    {
        string path = Path.Combine(_files.Directory, "new", "audit.key");
        var created = AuditKey.Load(path, create: true);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        var read = AuditKey.Load(path, create: false);
        Assert.Equal(created.Mac("c", 1, When, "k", null, "{}", AuditKey.Genesis), read.Mac("c", 1, When, "k", null, "{}", AuditKey.Genesis));
    }

    [Fact]
    public void Hex_base64_and_raw_files_give_the_same_key()
    {
        byte[] material = RandomNumberGenerator.GetBytes(32);
        var raw = AuditKey.FromBytes(material);
        string hex = Path.Combine(_files.Directory, "hex.key");
        File.WriteAllText(hex, Convert.ToHexString(material) + "\n");
        string b64 = Path.Combine(_files.Directory, "b64.key");
        File.WriteAllText(b64, Convert.ToBase64String(material));
        var expected = raw.Mac("c", 7, When, "statement", "s", "{\"a\":1}", AuditKey.Genesis);
        Assert.Equal(expected, AuditKey.Load(hex, create: false).Mac("c", 7, When, "statement", "s", "{\"a\":1}", AuditKey.Genesis));
        Assert.Equal(expected, AuditKey.Load(b64, create: false).Mac("c", 7, When, "statement", "s", "{\"a\":1}", AuditKey.Genesis));
    }

    [Fact]
    public void Missing_and_short_key_files_are_one_line_errors_naming_the_file_not_the_key()
    {
        string missing = Path.Combine(_files.Directory, "missing.key");
        var error = Assert.Throws<AuditKeyException>(() => AuditKey.Load(missing, create: false));
        Assert.Equal($"audit.key_file {missing} does not exist", error.Message);

        string shortKey = Path.Combine(_files.Directory, "short.key");
        File.WriteAllText(shortKey, "c2VjcmV0");
        error = Assert.Throws<AuditKeyException>(() => AuditKey.Load(shortKey, create: false));
        Assert.Contains("holds 6 bytes of key; at least 32 are needed", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_mac_covers_every_field_and_the_predecessor()
    {
        var key = AuditKey.FromBytes(RandomNumberGenerator.GetBytes(32));
        byte[] previous = RandomNumberGenerator.GetBytes(32);
        var row = new AuditRow("c", 5, When, "statement", "s", "{\"sql\":\"SELECT 1\"}", key.Mac("c", 5, When, "statement", "s", "{\"sql\":\"SELECT 1\"}", previous));
        Assert.True(key.Verifies(row, previous));
        Assert.False(key.Verifies(row with { Chain = "d" }, previous));
        Assert.False(key.Verifies(row with { Seq = 6 }, previous));
        Assert.False(key.Verifies(row with { Time = When.AddMilliseconds(1) }, previous));
        Assert.False(key.Verifies(row with { Kind = "outcome" }, previous));
        Assert.False(key.Verifies(row with { SessionId = null }, previous));
        Assert.False(key.Verifies(row with { Body = "{\"sql\":\"SELECT 2\"}" }, previous));
        Assert.False(key.Verifies(row, AuditKey.Genesis));

        // Length-prefixed fields: moving text from one field to the next changes the MAC.
        Assert.NotEqual(key.Mac("c", 5, When, "ab", "c", "{}", previous), key.Mac("c", 5, When, "a", "bc", "{}", previous));
        // A body longer than the stack buffer is hashed whole.
        string big = new('x', 5000);
        Assert.NotEqual(key.Mac("c", 5, When, "k", null, big, previous), key.Mac("c", 5, When, "k", null, big + "y", previous));
    }

    [Fact]
    public void An_anchor_signature_binds_chain_position_mac_and_time()
    {
        var key = AuditKey.FromBytes(RandomNumberGenerator.GetBytes(32));
        byte[] mac = RandomNumberGenerator.GetBytes(32);
        var anchor = new AuditAnchor("c", 10, mac, When, key.SignAnchor("c", 10, mac, When));
        Assert.True(key.VerifiesAnchor(anchor));
        Assert.False(key.VerifiesAnchor(anchor with { Seq = 11 }));
        Assert.False(key.VerifiesAnchor(anchor with { Chain = "d" }));
        Assert.False(key.VerifiesAnchor(anchor with { Mac = RandomNumberGenerator.GetBytes(32) }));
        Assert.False(key.VerifiesAnchor(anchor with { Time = When.AddSeconds(1) }));
        Assert.False(AuditKey.FromBytes(RandomNumberGenerator.GetBytes(32)).VerifiesAnchor(anchor));
    }
}
