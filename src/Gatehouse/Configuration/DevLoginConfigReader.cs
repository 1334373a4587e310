using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>
/// One <c>identity.dev_logins</c> entry: who may sign in to the console at the dev issuer, with which secret and claims.
/// The password is read when the gateway starts, never kept here.
/// </summary>
public sealed record DevLoginConfig(string Subject, string? PasswordFile, string? PasswordEnv, IReadOnlyList<KeyValuePair<string, string>> Claims)
{
    public const int MinPasswordLength = 12;

    public string ReadPassword()
    {
        if (PasswordFile is not null)
        {
            return File.ReadAllText(PasswordFile).TrimEnd('\r', '\n');
        }

        return Environment.GetEnvironmentVariable(PasswordEnv!) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"environment variable {PasswordEnv} is not set");
    }
}

internal static class DevLoginConfigReader
{
    private static readonly HashSet<string> IssuerClaims = new(StringComparer.Ordinal) { "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "nonce" };

    public static IReadOnlyList<DevLoginConfig> Read(YamlSection identity, bool devIssuer, Func<string?, string> resolve, ConfigFiles files)
    {
        var node = identity.Get("dev_logins");
        if (node is null)
        {
            return [];
        }

        if (!devIssuer)
        {
            identity.Error(node, "'dev_logins' sign in at the dev issuer: set 'dev_issuer: true' or remove them");
        }

        if (node is not YamlSequence sequence)
        {
            identity.Error(node, "'dev_logins' must be a list of { subject, password_env | password_file, claims }");
            return [];
        }

        var logins = new List<DevLoginConfig>();
        int position = 0;
        foreach (var item in sequence.Items)
        {
            position++;
            if (item is not YamlMapping mapping)
            {
                identity.Error(item, "each dev login must be a mapping { subject, password_env | password_file, claims }");
                continue;
            }

            var section = identity.Child(mapping);
            string subject = section.RequiredString("subject", mapping);
            string name = subject.Length > 0 ? $"'{subject}'" : $"#{position}";
            string? file = files.Read(section, "password_file", $"identity.dev_logins ({name}) password_file", ConfigFileKind.Secret, resolve);
            string? env = section.String("password_env");
            if ((file is null) == (env is null))
            {
                section.Error(mapping, $"dev login {name} needs exactly one of 'password_file' or 'password_env'");
            }

            var claims = ReadClaims(section, name);
            section.RejectUnknownKeys($"identity.dev_logins ({name})");
            if (logins.Any(l => l.Subject == subject))
            {
                section.Error(mapping, $"dev login {name} is listed twice");
            }

            logins.Add(new DevLoginConfig(subject, file, env, claims));
        }

        return logins;
    }

    private static List<KeyValuePair<string, string>> ReadClaims(YamlSection section, string name)
    {
        var claims = new List<KeyValuePair<string, string>>();
        var node = section.Get("claims");
        if (node is null)
        {
            return claims;
        }

        if (node is not YamlMapping mapping)
        {
            section.Error(node, $"the claims of dev login {name} must be a mapping, e.g. {{ groups: dba }}");
            return claims;
        }

        foreach (var (key, value) in mapping.Entries)
        {
            if (IssuerClaims.Contains(key.Value))
            {
                section.Error(key, $"claim '{key.Value}' is set by the dev issuer and cannot be given");
                continue;
            }

            var values = value switch
            {
                YamlScalar { IsNull: false } scalar => new List<YamlScalar> { scalar },
                YamlSequence list when list.Items.All(i => i is YamlScalar { IsNull: false }) => list.Items.Cast<YamlScalar>().ToList(),
                _ => null,
            };
            if (values is null)
            {
                section.Error(value, $"claim '{key.Value}' must be a string or a list of strings");
                continue;
            }

            claims.AddRange(values.Select(v => new KeyValuePair<string, string>(key.Value, v.Value)));
        }

        return claims;
    }
}
