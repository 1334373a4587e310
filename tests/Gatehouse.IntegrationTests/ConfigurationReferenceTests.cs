using System.Text;
using System.Text.RegularExpressions;
using Gatehouse.Configuration;
using Gatehouse.Yaml;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// docs/configuration.md stays true to the loader: its complete example loads and passes `gatehouse policy check
/// --config`, and each of its key tables lists exactly the keys <see cref="GatewayConfigLoader"/> accepts in that
/// section — no more, no fewer.
/// </summary>
/// <remarks>
/// The loader does not publish its key lists, and an unknown key's error does not name the allowed ones. So the
/// accepted keys of a section are found by asking it: every snake_case string literal in src/ (where any key the
/// readers look up is written) and every key the document names is put into that section of an otherwise clean
/// configuration; the keys the loader does not report as unknown there are the keys it reads. A key added to a reader
/// without a row in the doc, or a row for a key the reader does not read, fails the test. A new nested mapping shows
/// up as a key whose scalar value is refused with "must be a mapping"; it must have a table of its own.
/// </remarks>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ConfigurationReferenceTests : IDisposable
{
    private const string Document = "docs/configuration.md";
    private const string KeyTableHeader = "| key | type | default | meaning |";
    private const string Bogus = "zz_not_a_configuration_key";

    private static readonly string Root = ProcessRunner.RepositoryRoot();

    /// <summary>
    /// Each section the doc has a table for: a clean configuration with <c>@@</c> where keys are put (at that line's
    /// indentation), the keys it already has there, and how the loader names the section in "unknown key … in WHERE".
    /// </summary>
    private static readonly Probe[] Probes =
    [
        new(string.Empty, "the configuration", "@@\n" + BaseTargets, ["identity", "targets"]),
        new("listen", "listen", "listen:\n  @@\n" + BaseTargets, []),
        new("tls", "tls", "tls:\n  @@\n" + BaseTargets, []),
        new("identity", "identity", """
            identity:
              dev_issuer: true
              dev_logins:
                - subject: probe
                  password_env: PROBE_PASSWORD
              @@
            targets:
              probe:
                host: db
                provisioner:
                  user: u
                  password_env: P
            """, ["dev_issuer", "dev_logins"]),
        new("identity.dev_logins[]", "identity.dev_logins ('probe')", """
            identity:
              dev_issuer: true
              dev_logins:
                - subject: probe
                  password_env: PROBE_PASSWORD
                  @@
            targets:
              probe:
                host: db
                provisioner:
                  user: u
                  password_env: P
            """, ["subject", "password_env"]),
        new("targets.NAME", "targets.probe", """
            identity:
              dev_issuer: true
            targets:
              probe:
                host: db
                provisioner:
                  user: u
                  password_env: P
                @@
            """, ["host", "provisioner"]),
        new("targets.NAME.provisioner", "targets.probe.provisioner", """
            identity:
              dev_issuer: true
            targets:
              probe:
                host: db
                provisioner:
                  user: u
                  password_env: P
                  @@
            """, ["user", "password_env"]),
        new("targets.NAME.credentials", "targets.probe.credentials", """
            identity:
              dev_issuer: true
            targets:
              probe:
                host: db
                provisioner:
                  user: u
                  password_env: P
                credentials:
                  @@
            """, []),
        new("limits", "limits", "limits:\n  @@\n" + BaseTargets, []),
        new("audit", "audit", "audit:\n  @@\n" + BaseTargets, []),
        new("admin", "admin", "admin:\n  @@\n" + BaseTargets, []),
        new("admin.console", "admin.console", "admin:\n  console:\n    @@\n" + BaseTargets, []),
        new("mcp", "mcp", "mcp:\n  @@\n" + BaseTargets, []),
    ];

    private const string BaseTargets = """
        identity:
          dev_issuer: true
        targets:
          probe:
            host: db
            provisioner:
              user: u
              password_env: P

        """;

    private readonly string _tmp = Directory.CreateTempSubdirectory("gatehouse-config-reference-").FullName;

    private sealed record Probe(string Path, string Where, string Template, string[] BaseKeys);

    [Fact]
    public async Task The_complete_example_loads_and_passes_policy_check()
    {
        var examples = DocsMarkdown.Blocks(Read(Document)).Where(b => b.Heading == "Complete example" && b.Language == "yaml").ToList();
        var example = Assert.Single(examples);
        string configPath = Path.Combine(_tmp, "gatehouse.yaml");
        await File.WriteAllTextAsync(configPath, example.Text);

        var config = GatewayConfigLoader.Load(configPath, out var errors);
        Assert.True(errors.Count == 0, $"{Document}:{example.Line}: the complete example does not load:\n{string.Join('\n', errors)}");
        Assert.NotNull(config);

        // "Relative to the configuration file", as the doc says.
        Assert.Equal(Path.Combine(_tmp, "policy.yaml"), config.PolicyPath);

        // The example uses every top-level section the reference documents.
        var tree = Assert.IsType<YamlMapping>(YamlTreeReader.Read(example.Text, configPath, [], "a configuration file"));
        var used = tree.Entries.Select(e => e.Key.Value).ToHashSet(StringComparer.Ordinal);
        var missing = DocumentedKeys()[string.Empty].Where(k => !used.Contains(k)).ToList();
        Assert.True(missing.Count == 0, $"the complete example leaves out top-level keys: {string.Join(", ", missing)}");

        // A minimal policy that matches: the admin identities it names, and a grant on every target it defines.
        var policy = new StringBuilder("identities:\n  agents: { claims: { groups: ai-agents } }\n");
        foreach (string identity in new[] { config.Admin.Identities, config.Admin.Auditors }.OfType<string>())
        {
            policy.Append($"  {identity}: {{ claims: {{ roles: {identity} }} }}\n");
        }

        policy.Append($"grants:\n  - to: agents\n    targets: [{string.Join(", ", config.Targets.Keys)}]\n    db_roles: [app_read]\n");
        await File.WriteAllTextAsync(config.PolicyPath!, policy.ToString());
        var check = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["policy", "check", config.PolicyPath!, "--config", configPath], timeout: TimeSpan.FromSeconds(120));
        Assert.True(check.ExitCode == 0, $"policy check --config on the complete example:\n{check.Stderr}");
        Assert.StartsWith("ok: ", check.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_table_lists_exactly_the_keys_the_loader_accepts_in_its_section()
    {
        var documented = DocumentedKeys();
        var probed = Probes.Select(p => p.Path).ToHashSet(StringComparer.Ordinal);
        Assert.True(documented.Keys.ToHashSet().SetEquals(probed),
            $"key tables in {Document}: [{string.Join(", ", documented.Keys.Order())}]; sections the test probes: [{string.Join(", ", probed.Order())}]");

        var candidates = SourceLiterals();
        candidates.UnionWith(documented.Values.SelectMany(k => k));
        Assert.True(candidates.Count > 100, $"only {candidates.Count} candidate keys found in src/");

        var problems = new List<string>();
        foreach (var probe in Probes)
        {
            // The probe itself must work: clean apart from the bogus key, which the loader names in this section.
            var sanity = LoadWith(probe, [Bogus]);
            if (sanity.Count != 1 || !sanity[0].EndsWith($"unknown key '{Bogus}' in {probe.Where}", StringComparison.Ordinal))
            {
                problems.Add($"probe for '{probe.Path}' is not clean:\n  {string.Join("\n  ", sanity)}");
                continue;
            }

            var inserted = candidates.Except(probe.BaseKeys).Order(StringComparer.Ordinal).ToList();
            var errors = LoadWith(probe, inserted);
            var unknown = new HashSet<string>(StringComparer.Ordinal);
            var mappings = new HashSet<string>(StringComparer.Ordinal);
            foreach (string error in errors)
            {
                if (UnknownKey().Match(error) is { Success: true } match)
                {
                    if (match.Groups["where"].Value != probe.Where)
                    {
                        problems.Add($"probe for '{probe.Path}' reached another section: {error}");
                    }

                    unknown.Add(match.Groups["key"].Value);
                }
                else if (MustBeMapping().Match(error) is { Success: true } mapping)
                {
                    mappings.Add(mapping.Groups["key"].Value);
                }
            }

            var accepted = inserted.Where(k => !unknown.Contains(k)).Concat(probe.BaseKeys).ToHashSet(StringComparer.Ordinal);
            string name = probe.Path.Length == 0 ? "top level" : probe.Path;
            var notAccepted = documented[probe.Path].Where(k => !accepted.Contains(k)).Order().ToList();
            var notDocumented = accepted.Where(k => !documented[probe.Path].Contains(k)).Order().ToList();
            if (notAccepted.Count > 0)
            {
                problems.Add($"{name}: documented but refused by the loader: {string.Join(", ", notAccepted)}");
            }

            if (notDocumented.Count > 0)
            {
                problems.Add($"{name}: accepted by the loader but not in {Document}: {string.Join(", ", notDocumented)}");
            }

            foreach (string key in mappings.Where(accepted.Contains))
            {
                string child = probe.Path.Length == 0 ? key : $"{probe.Path}.{key}";
                if (!probed.Contains(child))
                {
                    problems.Add($"{name}: '{key}' is a mapping, and {Document} has no key table for '{child}'");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Relative_links_name_files_and_headings_that_exist()
    {
        string path = Path.Combine(Root, Document);
        var broken = new List<string>();
        foreach (var (target, line) in DocsMarkdown.Links(File.ReadAllText(path)))
        {
            if (target.Contains("://", StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = target.Split('#', 2);
            string file = parts[0].Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, parts[0]));
            if (!File.Exists(file) && !Directory.Exists(file))
            {
                broken.Add($"{Document}:{line}: {target}: no such file");
            }
            else if (parts.Length == 2 && !DocsMarkdown.Anchors(File.ReadAllText(file)).Contains(parts[1]))
            {
                broken.Add($"{Document}:{line}: {target}: no such heading");
            }
        }

        Assert.True(broken.Count == 0, string.Join('\n', broken));
    }

    /// <summary>Section path (<c>""</c> for the top level) → keys of its <c>| key | type | default | meaning |</c> table.</summary>
    private static Dictionary<string, HashSet<string>> DocumentedKeys()
    {
        var sections = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        string[] lines = Read(Document).Split('\n');
        string? heading = null;
        bool fenced = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }

            if (fenced)
            {
                continue;
            }

            if (line.StartsWith("## ", StringComparison.Ordinal) || line.StartsWith("### ", StringComparison.Ordinal))
            {
                heading = line.TrimStart('#').Trim();
                continue;
            }

            if (line != KeyTableHeader)
            {
                continue;
            }

            Assert.True(heading is not null, $"{Document}:{i + 1}: a key table before any heading");
            var code = BacktickSpan().Match(heading!);
            string section = code.Success ? code.Groups[1].Value : heading == "Top-level keys" ? string.Empty
                : throw new Xunit.Sdk.XunitException($"{Document}:{i + 1}: key table under '{heading}', which names no section");
            Assert.False(sections.ContainsKey(section), $"{Document}:{i + 1}: a second key table for '{section}'");
            var keys = sections[section] = new HashSet<string>(StringComparer.Ordinal);
            Assert.StartsWith("|---", lines[i + 1], StringComparison.Ordinal);
            for (i += 2; i < lines.Length && lines[i].StartsWith('|'); i++)
            {
                string cell = lines[i].Split('|')[1].Trim();
                var key = KeyCell().Match(cell);
                Assert.True(key.Success, $"{Document}:{i + 1}: the first cell must be one `key`, got {cell}");
                Assert.True(keys.Add(key.Groups[1].Value), $"{Document}:{i + 1}: '{key.Groups[1].Value}' is listed twice");
            }

            i--;
        }

        return sections;
    }

    /// <summary>Every snake_case string literal in src/: a superset of the keys any reader looks up.</summary>
    private static HashSet<string> SourceLiterals()
    {
        var literals = new HashSet<string>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(Root, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            {
                continue;
            }

            foreach (Match literal in SnakeLiteral().Matches(File.ReadAllText(file)))
            {
                literals.Add(literal.Groups[1].Value);
            }
        }

        return literals;
    }

    /// <summary>Loads the probe's configuration with <paramref name="keys"/> put in its section, each with the value 1.</summary>
    private List<string> LoadWith(Probe probe, IEnumerable<string> keys)
    {
        var text = new StringBuilder();
        foreach (string line in probe.Template.Split('\n'))
        {
            string trimmed = line.TrimStart();
            if (trimmed != "@@")
            {
                text.Append(line).Append('\n');
                continue;
            }

            string indent = line[..(line.Length - trimmed.Length)];
            foreach (string key in keys)
            {
                text.Append(indent).Append('\'').Append(key).Append("': 1\n");
            }
        }

        string path = Path.Combine(_tmp, $"probe-{probe.Where.Replace(' ', '-').Replace('\'', '-')}.yaml");
        File.WriteAllText(path, text.ToString());
        GatewayConfigLoader.Load(path, out var errors);
        return errors.ToList();
    }

    private static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    [GeneratedRegex(@"unknown key '(?<key>[^']*)' in (?<where>.+)$")]
    private static partial Regex UnknownKey();

    [GeneratedRegex(@"error: '(?<key>[a-z0-9_]+)' must be a mapping$")]
    private static partial Regex MustBeMapping();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex BacktickSpan();

    [GeneratedRegex(@"^`([a-z][a-z0-9_]*)`$")]
    private static partial Regex KeyCell();

    [GeneratedRegex(@"""([a-z][a-z0-9_]*)""")]
    private static partial Regex SnakeLiteral();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_tmp, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder.
        }
    }
}
