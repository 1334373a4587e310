using System.Net;
using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>Reads gatehouse.yaml into a <see cref="GatewayConfig"/>, collecting every error with its position.</summary>
public static class GatewayConfigLoader
{
    private const int MaxFileBytes = 1024 * 1024;

    public static GatewayConfig? Load(string path, out IReadOnlyList<string> errors)
    {
        var list = new List<string>();
        errors = list;
        string fullPath = Path.GetFullPath(path);
        string text;
        try
        {
            var info = new FileInfo(fullPath);
            if (!info.Exists)
            {
                list.Add($"{path}: error: file not found");
                return null;
            }

            if (info.Length > MaxFileBytes)
            {
                list.Add($"{path}: error: file is larger than 1 MiB");
                return null;
            }

            text = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            list.Add($"{path}: error: cannot read file: {ex.Message}");
            return null;
        }

        var found = new List<YamlError>();
        var root = YamlTreeReader.Read(text, path, found, "a configuration file");
        GatewayConfig? config = null;
        if (root is YamlMapping mapping)
        {
            config = Build(path, Path.GetDirectoryName(fullPath)!, new YamlSection(path, mapping, found));
        }
        else if (root is not null || found.Count == 0)
        {
            found.Add(new YamlError(path, 1, 1, "the configuration must be a YAML mapping"));
        }

        list.AddRange(found.Select(e => e.ToString()));
        return list.Count == 0 ? config! with { SourcePath = fullPath } : null;
    }

    private static GatewayConfig Build(string path, string baseDir, YamlSection root)
    {
        string Resolve(string? relative) => Path.GetFullPath(relative!, baseDir);
        var files = new ConfigFiles();

        var listen = root.Section("listen");
        var postgres = ParseEndPoint(root, listen, "postgres", "127.0.0.1:6432");
        var admin = ParseEndPoint(root, listen, "admin", "127.0.0.1:8080");
        listen?.RejectUnknownKeys("listen");

        var tlsSection = root.Section("tls");
        string? certificate = tlsSection is null ? null : files.Read(tlsSection, "certificate", "tls.certificate", ConfigFileKind.TlsCertificate, Resolve);
        string? key = tlsSection is null ? null : files.Read(tlsSection, "key", "tls.key", ConfigFileKind.Secret, Resolve);
        bool require = tlsSection?.Bool("require", true) ?? true;
        if ((certificate is null) != (key is null))
        {
            tlsSection!.Error(tlsSection.Node, "'certificate' and 'key' go together");
        }

        tlsSection?.RejectUnknownKeys("tls");

        var identitySection = root.Section("identity");
        var identity = new IdentityConfig(
            identitySection?.String("issuer"),
            identitySection?.StringList("audiences", ["gatehouse"]) ?? ["gatehouse"],
            identitySection?.Duration("clock_skew", TimeSpan.FromSeconds(30)) ?? TimeSpan.FromSeconds(30),
            identitySection?.Bool("dev_issuer", false) ?? false);
        identity = identity with { DevLogins = identitySection is null ? [] : DevLoginConfigReader.Read(identitySection, identity.DevIssuer, Resolve, files) };
        identitySection?.RejectUnknownKeys("identity");
        if (identity.Issuer is null && !identity.DevIssuer)
        {
            root.Error(identitySection?.Node ?? root.Node, "identity needs an 'issuer' (or 'dev_issuer: true' for development)");
        }

        string state = root.String("state", "sqlite:gatehouse-state.db")!;
        string stateDirectory;
        if (state.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            string file = Resolve(state["sqlite:".Length..]);
            state = "sqlite:" + file;
            stateDirectory = Path.GetDirectoryName(file)!;
        }
        else if (state.StartsWith("postgres://", StringComparison.Ordinal) || state.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            stateDirectory = baseDir;
        }
        else
        {
            root.Error(root.Get("state")!, "'state' must be sqlite:PATH or postgres://…");
            stateDirectory = baseDir;
        }

        stateDirectory = root.String("state_dir") is { } dir ? Resolve(dir) : stateDirectory;

        var targets = new Dictionary<string, TargetConfig>(StringComparer.Ordinal);
        if (root.Get("targets") is YamlMapping { Entries.Count: > 0 } targetNodes)
        {
            foreach (var (nameNode, value) in targetNodes.Entries)
            {
                string name = nameNode.Value;
                if (value is not YamlMapping mapping)
                {
                    root.Error(value, $"target '{name}' must be a mapping");
                    continue;
                }

                targets[name] = TargetConfigReader.Read(name, root.Child(mapping), Resolve, files);
            }
        }
        else
        {
            root.Error(root.Get("targets") ?? root.Node, "'targets' must be a mapping with at least one target");
        }

        string? policy = root.String("policy");
        var limitsSection = root.Section("limits");
        var limits = new LimitsConfig(
            limitsSection?.Int("max_message_bytes", 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024) ?? 16 * 1024 * 1024,
            limitsSection?.Int("max_client_connections", 1000, 1, 1_000_000) ?? 1000,
            limitsSection?.Duration("startup_timeout", TimeSpan.FromSeconds(15)) ?? TimeSpan.FromSeconds(15))
        {
            AuthTimeout = limitsSection?.Duration("auth_timeout", TimeSpan.FromSeconds(5)) ?? TimeSpan.FromSeconds(5),
            MaxUnauthenticatedPerAddress = limitsSection?.Int("max_unauthenticated_per_address", 64, 1, 1_000_000) ?? 64,
        };
        int reserveDefault = limits.MaxClientConnections / 10;
        limits = limits with
        {
            ReservedConnections = limitsSection?.Int("reserved_connections", reserveDefault, 0, Math.Max(0, limits.MaxClientConnections - 1)) ?? reserveDefault,
        };
        limitsSection?.RejectUnknownKeys("limits");
        var adminSection = AdminConfigReader.Read(root, identity, Resolve, files);
        var audit = AuditConfigReader.Read(root, Resolve, files, sharedStore: state.StartsWith("postgres://", StringComparison.Ordinal) || state.StartsWith("postgresql://", StringComparison.Ordinal));
        var mcp = McpConfigReader.Read(root);
        root.RejectUnknownKeys("the configuration");

        return new GatewayConfig
        {
            SourcePath = path,
            PostgresListen = postgres,
            AdminListen = admin,
            Tls = new TlsConfig(certificate, key, require),
            Identity = identity,
            State = state,
            StateDirectory = stateDirectory,
            Targets = targets,
            PolicyPath = policy is null ? null : Resolve(policy),
            Limits = limits,
            Audit = audit,
            Admin = adminSection,
            Mcp = mcp,
            Files = files.All,
        };
    }

    private static IPEndPoint ParseEndPoint(YamlSection root, YamlSection? listen, string key, string fallback)
    {
        string text = listen?.String(key, fallback) ?? fallback;
        if (IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port is > 0 and < 65536)
        {
            return endPoint;
        }

        if (text.StartsWith("localhost:", StringComparison.Ordinal) && int.TryParse(text["localhost:".Length..], out int port)
            && port is > 0 and < 65536)
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        root.Error(listen?.Get(key) ?? root.Node, $"listen.{key} must be ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:6432");
        return IPEndPoint.Parse(fallback);
    }
}
