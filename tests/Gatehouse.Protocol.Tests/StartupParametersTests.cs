using System.Buffers;
using Gatehouse.Protocol;

namespace Gatehouse.Protocol.Tests;

public sealed class StartupParametersTests
{
    private static StartupParameters? Parse(byte[] body, out string? error) =>
        StartupParameters.TryParse(new ReadOnlySequence<byte>(body), out error);

    [Fact]
    public void Parses_pairs_in_order()
    {
        var parameters = Parse("user\0agent\0database\0orders\0\0"u8.ToArray(), out var error);
        Assert.Null(error);
        Assert.Equal("agent", parameters!["user"]);
        Assert.Equal("orders", parameters["database"]);
        Assert.Equal(["user", "database"], parameters.Items.Select(i => i.Key));
    }

    [Theory]
    [InlineData("user", "startup packet is not terminated")]
    [InlineData("user\0agent", "startup parameter \"user\" has no value")]
    [InlineData("user\0a\0user\0b\0\0", "startup parameter \"user\" is given twice")]
    [InlineData("user\0a\0\0junk", "trailing bytes after the startup parameters")]
    public void Malformed_packets_give_a_precise_error(string body, string expected)
    {
        Assert.Null(Parse(System.Text.Encoding.UTF8.GetBytes(body), out var error));
        Assert.Equal(expected, error);
    }
}
