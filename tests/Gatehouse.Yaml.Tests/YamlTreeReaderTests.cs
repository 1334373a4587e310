namespace Gatehouse.Yaml.Tests;

public class YamlTreeReaderTests
{
    private static (YamlNode? Root, List<string> Errors) Read(string text)
    {
        var errors = new List<YamlError>();
        var root = YamlTreeReader.Read(text, "f.yaml", errors, "a test file");
        return (root, errors.ConvertAll(e => e.ToString()));
    }

    [Fact]
    public void Every_node_keeps_its_one_based_position()
    {
        var (root, errors) = Read("a:\n  b: [x, 'y']\n");

        Assert.Empty(errors);
        var a = Assert.IsType<YamlMapping>(Assert.IsType<YamlMapping>(root).Find("a"));
        var key = Assert.Single(a.Entries).Key;
        Assert.Equal((2, 3), (key.Line, key.Column));
        var list = Assert.IsType<YamlSequence>(a.Find("b"));
        Assert.Equal((2, 6), (list.Line, list.Column));
        var quoted = Assert.IsType<YamlScalar>(list.Items[1]);
        Assert.Equal(("y", false, 2, 10), (quoted.Value, quoted.IsPlain, quoted.Line, quoted.Column));
    }

    [Theory]
    [InlineData("a: 1\na: 2\n", "f.yaml:2:1: error: duplicate key 'a' (first at line 1, column 1)")]
    [InlineData("a: 1\n---\nb: 2\n", "f.yaml:2:1: error: a test file holds one YAML document; found a second one")]
    [InlineData("a: b: c\n", "f.yaml:1:5: error: not valid YAML: While scanning a plain scalar value, found invalid mapping.")]
    [InlineData("? [a]\n: 1\n", "f.yaml:1:3: error: mapping keys must be plain strings")]
    public void Problems_are_reported_with_their_position(string text, string error)
    {
        Assert.Contains(error, Read(text).Errors);
    }

    [Fact]
    public void A_text_the_scanner_gives_up_on_is_an_error_not_an_exception()
    {
        var (root, errors) = Read("listen: [a, b\nx: 1\n");

        Assert.Null(root);
        Assert.StartsWith("f.yaml:1:", Assert.Single(errors), StringComparison.Ordinal);
        Assert.Contains("error: not valid YAML: ", errors[0], StringComparison.Ordinal);
    }
}
