using System.Text.Json;
using Gatehouse.Demo;
using Gatehouse.Yaml;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// The docs cannot rot: README.md's commands run as written (<see cref="DocsReadmeRunner"/>), links name files that
/// exist, every cookbook policy passes `gatehouse policy check`, and the Docker Compose example — which cannot be
/// started here (no Docker engine) — passes `compose config` and is checked for what it must contain and for
/// agreement between its realm, configuration, policy and the demo's schema.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DocsTests : IDisposable
{
    private static readonly string Root = ProcessRunner.RepositoryRoot();

    private readonly string _tmp = Directory.CreateTempSubdirectory("gatehouse-docs-test-").FullName;

    public DocsTests()
    {
        // Servers started for the README run as the postgres OS user when the tests run as root: it must reach them.
        File.SetUnixFileMode(_tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    private static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    [Fact]
    public async Task The_readme_commands_run_as_written()
    {
        // `serve --config examples/gatehouse.yaml` keeps its state next to the example (git-ignored); tidy up after
        // ourselves unless someone had state there already.
        string exampleState = Path.Combine(Root, "examples", ".gatehouse");
        bool hadState = Directory.Exists(exampleState);
        var runner = new DocsReadmeRunner(_tmp);
        try
        {
            await runner.RunAsync(Read("README.md"));
        }
        finally
        {
            await runner.DisposeAsync();
            if (!hadState && Directory.Exists(exampleState))
            {
                Directory.Delete(exampleState, recursive: true);
            }
        }

        // Guards against a parser that silently finds nothing to run.
        Assert.True(runner.CommandsRun >= 6, $"only {runner.CommandsRun} README commands ran");
        Assert.True(runner.ExpectationsChecked >= 6, $"only {runner.ExpectationsChecked} tour expectations were checked");
        Assert.Contains("./test.sh", runner.Skipped);
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("CHANGELOG.md")]
    [InlineData("docs/cookbook.md")]
    [InlineData("docs/clients.md")]
    [InlineData("docs/identity-providers.md")]
    [InlineData("docs/operations.md")]
    public void Relative_links_name_files_and_headings_that_exist(string document)
    {
        string path = Path.Combine(Root, document);
        string text = File.ReadAllText(path);
        var broken = new List<string>();
        foreach (var (target, line) in DocsMarkdown.Links(text))
        {
            if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("https://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = target.Split('#', 2);
            string file = parts[0].Length == 0 ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, parts[0]));
            if (!file.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue; // outside the repository, e.g. the workspace's ../shared/SPEC.md
            }

            if (!File.Exists(file) && !Directory.Exists(file))
            {
                broken.Add($"{document}:{line}: {target}: no such file");
            }
            else if (parts.Length == 2 && file.EndsWith(".md", StringComparison.Ordinal) && !DocsMarkdown.Anchors(File.ReadAllText(file)).Contains(parts[1]))
            {
                broken.Add($"{document}:{line}: {target}: no such heading");
            }
        }

        Assert.True(broken.Count == 0, string.Join('\n', broken));
    }

    [Fact]
    public async Task Every_cookbook_policy_passes_policy_check()
    {
        var policies = DocsMarkdown.Blocks(Read("docs/cookbook.md"))
            .Where(b => b.Language == "yaml" && b.Text.Split('\n').Any(l => l.StartsWith("identities:", StringComparison.Ordinal)))
            .ToList();
        Assert.True(policies.Count >= 4, $"expected a policy per recipe, found {policies.Count}");
        foreach (var block in policies)
        {
            string file = Path.Combine(_tmp, $"cookbook-{block.Line}.yaml");
            await File.WriteAllTextAsync(file, block.Text);
            var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["policy", "check", file]);
            Assert.True(result.ExitCode == 0, $"docs/cookbook.md:{block.Line} ({block.Heading}):\n{result.Stderr}");
            Assert.StartsWith("ok: ", result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_compose_file_has_its_services_volumes_health_checks_and_loopback_ports()
    {
        var compose = LoadYaml("deploy/docker-compose.yml");
        var services = Map(compose, "services");
        Assert.Equal(new[] { "certs", "postgres", "keycloak", "gatehouse" }, services.Entries.Select(e => e.Key.Value));
        var declaredVolumes = Map(compose, "volumes").Entries.Select(e => e.Key.Value).ToHashSet();
        foreach (var (nameNode, serviceNode) in services.Entries)
        {
            string name = nameNode.Value;
            var service = (YamlMapping)serviceNode;
            Assert.True(service.Find("image") is not null || service.Find("build") is not null, $"{name} has neither image nor build");
            if (name != "certs")
            {
                var test = Sequence(Map(service, "healthcheck"), "test");
                Assert.Equal("CMD", test[0]);
                foreach (var (dependency, condition) in Map(service, "depends_on").Entries)
                {
                    Assert.True(services.Find(dependency.Value) is not null, $"{name} depends on unknown {dependency.Value}");
                    Assert.Contains(Scalar(condition, "condition"), new[] { "service_healthy", "service_completed_successfully" });
                }
            }

            foreach (string volume in Sequence(service, "volumes"))
            {
                string source = volume.Split(':')[0];
                if (source.StartsWith("./", StringComparison.Ordinal))
                {
                    Assert.True(Path.Exists(Path.Combine(Root, "deploy", source)), $"{name} mounts {source}, which does not exist");
                }
                else
                {
                    Assert.Contains(source, declaredVolumes);
                }
            }

            foreach (string port in Sequence(service, "ports"))
            {
                Assert.StartsWith("127.0.0.1:", port, StringComparison.Ordinal);
            }
        }

        var gatehouse = Map(services, "gatehouse");
        Assert.Equal("true", Scalar(gatehouse, "read_only"));
        Assert.Contains("gatehouse-state:/var/lib/gatehouse", Sequence(gatehouse, "volumes"));
        Assert.Equal("../Dockerfile", Path.Combine(Scalar(Map(gatehouse, "build"), "context"), Scalar(Map(gatehouse, "build"), "dockerfile")));
        Assert.Contains("/healthz", string.Join(' ', Sequence(Map(gatehouse, "healthcheck"), "test")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Docker_compose_config_validates_the_compose_file_and_rejects_a_broken_copy()
    {
        var good = await ComposeConfigAsync(Path.Combine(Root, "deploy"));
        Assert.True(good.ExitCode == 0, $"compose config rejected deploy/docker-compose.yml:\n{good.Stderr}");
        Assert.Contains("gatehouse:", good.Stdout, StringComparison.Ordinal);

        // The same check must be able to fail: a copy with one misspelt service key is refused, naming the key.
        string copy = Path.Combine(_tmp, "deploy");
        CopyDirectory(Path.Combine(Root, "deploy"), copy);
        string file = Path.Combine(copy, "docker-compose.yml");
        string text = await File.ReadAllTextAsync(file);
        await File.WriteAllTextAsync(file, text.Replace("    read_only: true", "    read_only: true\n    restrat: always", StringComparison.Ordinal));
        var broken = await ComposeConfigAsync(copy);
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Contains("restrat", broken.Stderr, StringComparison.Ordinal);
    }

    /// <summary>`docker compose config` when the Compose plugin is installed, else Debian's docker-compose (which
    /// test.sh installs): both validate the file against the Compose schema without a Docker engine.</summary>
    private static async Task<ProcessRunner.Result> ComposeConfigAsync(string directory)
    {
        string file = Path.Combine(directory, "docker-compose.yml");
        bool plugin = File.Exists("/usr/bin/docker")
            && (await ProcessRunner.RunAsync("docker", ["compose", "version"])).ExitCode == 0;
        return plugin
            ? await ProcessRunner.RunAsync("docker", ["compose", "-f", file, "config"])
            : await ProcessRunner.RunAsync("docker-compose", ["-f", file, "config"]);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
        }

        foreach (string source in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(source, Path.Combine(to, Path.GetRelativePath(from, source)));
        }
    }

    [Fact]
    public async Task The_compose_realm_configuration_and_policy_agree()
    {
        var compose = LoadYaml("deploy/docker-compose.yml");
        var keycloak = Map(Map(compose, "services"), "keycloak");
        string hostname = Scalar(Map(keycloak, "environment"), "KC_HOSTNAME");
        using var realm = JsonDocument.Parse(Read("deploy/keycloak/agents-realm.json"));
        string realmName = realm.RootElement.GetProperty("realm").GetString()!;

        var config = LoadYaml("deploy/gatehouse/gatehouse.yaml");
        var identity = Map(config, "identity");
        Assert.Equal($"{hostname}/realms/{realmName}", Scalar(identity, "issuer"));
        string audience = Sequence(identity, "audiences")[0];

        var clients = realm.RootElement.GetProperty("clients").EnumerateArray().ToDictionary(c => c.GetProperty("clientId").GetString()!);
        var agent = clients["shop-agent"];
        Assert.True(agent.GetProperty("serviceAccountsEnabled").GetBoolean());
        Assert.Contains($"client_secret={agent.GetProperty("secret").GetString()}", Read("README.md"), StringComparison.Ordinal);
        foreach (var client in clients.Values)
        {
            Assert.Contains(Mappers(client), m => m.GetProperty("protocolMapper").GetString() == "oidc-audience-mapper"
                && m.GetProperty("config").GetProperty("included.custom.audience").GetString() == audience);
        }

        // The console's client sends browsers back to the callback the gateway expects, with the reviewer's roles.
        var console = clients[Scalar(Map(Map(config, "admin"), "console"), "client_id")];
        Assert.True(console.GetProperty("standardFlowEnabled").GetBoolean());
        Assert.Contains(Scalar(Map(Map(config, "admin"), "console"), "redirect_uri"), console.GetProperty("redirectUris").EnumerateArray().Select(u => u.GetString()));
        Assert.Contains(Mappers(console), m => m.GetProperty("protocolMapper").GetString() == "oidc-usermodel-realm-role-mapper");

        var groups = Mappers(agent).Single(m => m.GetProperty("protocolMapper").GetString() == "oidc-hardcoded-claim-mapper").GetProperty("config");
        var roles = Mappers(clients["gatehouse-cli"]).Single(m => m.GetProperty("protocolMapper").GetString() == "oidc-usermodel-realm-role-mapper").GetProperty("config");
        var reviewer = realm.RootElement.GetProperty("users").EnumerateArray().Single(u => u.GetProperty("username").GetString() == "reviewer");
        Assert.Contains("dba", reviewer.GetProperty("realmRoles").EnumerateArray().Select(r => r.GetString()));

        var policy = LoadYaml("deploy/gatehouse/policy.yaml");
        var identities = Map(policy, "identities");
        Assert.Equal(groups.GetProperty("claim.value").GetString(), Scalar(Map(Map(identities, "coding-agents"), "claims"), groups.GetProperty("claim.name").GetString()!));
        Assert.Equal("dba", Scalar(Map(Map(identities, "dba-reviewers"), "claims"), roles.GetProperty("claim.name").GetString()!));

        var check = await ProcessRunner.RunAsync(GatewayProcess.Executable,
            ["policy", "check", Path.Combine(Root, "deploy/gatehouse/policy.yaml"), "--config", Path.Combine(Root, "deploy/gatehouse/gatehouse.yaml")]);
        Assert.True(check.ExitCode == 0, check.Stderr);
    }

    [Fact]
    public void The_compose_shop_is_the_schema_the_demo_seeds()
    {
        string file = Read("deploy/postgres/10-shop.sql");
        string sql = string.Join('\n', file.Split('\n').SkipWhile(l => l.StartsWith("--", StringComparison.Ordinal)));
        Assert.Equal(DemoFiles.Schema("app_read", "app_write", "shop").TrimEnd(), sql.TrimEnd());
    }

    [Fact]
    public void The_dockerfile_is_multi_stage_non_root_with_a_state_volume_and_a_health_check()
    {
        string[] lines = Read("Dockerfile").Split('\n');
        Assert.Equal(2, lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("USER $APP_UID", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("VOLUME /var/lib/gatehouse", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("/healthz", StringComparison.Ordinal));
        Assert.Contains("--self-contained", Read("Dockerfile"), StringComparison.Ordinal);
        Assert.Contains("-p:PublishSingleFile=true", Read("Dockerfile"), StringComparison.Ordinal);
        string[] ignored = Read(".dockerignore").Split('\n');
        Assert.Contains("**/bin", ignored);
        Assert.Contains("**/obj", ignored);
        Assert.Contains("**/.gatehouse", ignored);
    }

    private static IEnumerable<JsonElement> Mappers(JsonElement client) => client.GetProperty("protocolMappers").EnumerateArray();

    /// <summary>Read with Gatehouse's own YAML reader (YamlDotNet underneath; anchors and duplicate keys refused).</summary>
    private static YamlMapping LoadYaml(string relative)
    {
        var errors = new List<YamlError>();
        var root = YamlTreeReader.Read(Read(relative), relative, errors, "YAML file");
        Assert.True(errors.Count == 0, string.Join('\n', errors));
        return Assert.IsType<YamlMapping>(root);
    }

    private static YamlMapping Map(YamlNode node, string key) => ((YamlMapping)node).Find(key) as YamlMapping ?? new YamlMapping(0, 0, []);

    private static string Scalar(YamlNode node, string key) => Assert.IsType<YamlScalar>(((YamlMapping)node).Find(key)).Value;

    private static List<string> Sequence(YamlNode node, string key) =>
        ((YamlMapping)node).Find(key) is YamlSequence sequence ? sequence.Items.Select(i => ((YamlScalar)i).Value).ToList() : [];

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
