namespace Gatehouse.Yaml.Tests;

public class YamlSectionTests
{
    private static (YamlSection Section, List<YamlError> Errors) Section(string text)
    {
        var errors = new List<YamlError>();
        var root = (YamlMapping)YamlTreeReader.Read(text, "g.yaml", errors, "a test file")!;
        Assert.Empty(errors);
        return (new YamlSection("g.yaml", root, errors), errors);
    }

    [Fact]
    public void Typed_values_are_read_and_defaults_fill_what_is_absent()
    {
        var (section, errors) = Section("name: orders\nport: 5432\non: true\nttl: 1h30m\nlist: [a, b]\none: c\nsub: { k: v }\n");

        Assert.Equal("orders", section.String("name"));
        Assert.Equal(5432, section.Int("port", 1, 1, 65535));
        Assert.True(section.Bool("on", false));
        Assert.Equal(TimeSpan.FromMinutes(90), section.Duration("ttl", TimeSpan.Zero));
        Assert.Equal(["a", "b"], section.StringList("list", []));
        Assert.Equal(["c"], section.StringList("one", []));
        Assert.Equal("v", section.Section("sub")!.String("k"));
        Assert.Equal("fallback", section.String("missing", "fallback"));
        Assert.Empty(errors);
    }

    [Fact]
    public void Wrong_values_are_errors_at_the_value_and_the_fallback_is_returned()
    {
        var (section, errors) = Section("name: [x]\nport: 0\non: yes\nttl: soon\nlist: { a: 1 }\nsub: 3\n");

        Assert.Equal("f", section.String("name", "f"));
        Assert.Equal(7, section.Int("port", 7, 1, 65535));
        Assert.False(section.Bool("on", false));
        Assert.Equal(TimeSpan.Zero, section.Duration("ttl", TimeSpan.Zero));
        Assert.Equal(["d"], section.StringList("list", ["d"]));
        Assert.Null(section.Section("sub"));
        Assert.Equal(
            [
                "g.yaml:1:7: error: 'name' must be a non-empty string",
                "g.yaml:2:7: error: 'port' must be a whole number from 1 to 65535",
                "g.yaml:3:5: error: 'on' must be true or false",
                "g.yaml:4:6: error: 'ttl' must be a duration such as 30s, 15m, 1h",
                "g.yaml:5:7: error: 'list' must be a list of strings",
                "g.yaml:6:6: error: 'sub' must be a mapping",
            ],
            errors.ConvertAll(e => e.ToString()));
    }

    [Fact]
    public void Keys_nobody_read_are_rejected_and_a_missing_required_key_is_named()
    {
        var (section, errors) = Section("host: h\nhots: typo\n");

        section.String("host");
        section.RequiredString("user", section.Node);
        section.RejectUnknownKeys("targets.orders");

        Assert.Equal(
            ["g.yaml:1:1: error: 'user' is required", "g.yaml:2:1: error: unknown key 'hots' in targets.orders"],
            errors.ConvertAll(e => e.ToString()));
    }
}
