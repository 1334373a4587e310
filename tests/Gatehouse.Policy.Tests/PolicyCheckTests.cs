using Gatehouse.Policy.Tools;

namespace Gatehouse.Policy.Tests;

public class PolicyCheckTests
{
    private static readonly HashSet<string> Targets = ["orders", "orders-staging", "orders-replica"];

    public static TheoryData<string, string[]> BadFiles => new()
    {
        { "empty.yaml", ["empty.yaml:1:1: error: file is empty; expected a mapping with 'identities' and 'grants'"] },
        { "comments-only.yaml", ["comments-only.yaml:1:1: error: file is empty; expected a mapping with 'identities' and 'grants'"] },
        { "not-a-mapping.yaml", ["not-a-mapping.yaml:1:1: error: a policy must be a mapping with 'identities' and 'grants', got a list"] },
        { "not-yaml.yaml", ["not-yaml.yaml:2:42: error: not valid YAML: While parsing a flow sequence, did not find expected ',' or ']'."] },
        {
            "duplicate-keys.yaml",
            [
                "duplicate-keys.yaml:3:3: error: duplicate key 'agents' (first at line 2, column 3)",
                "duplicate-keys.yaml:7:5: error: duplicate key 'targets' (first at line 6, column 5)",
            ]
        },
        {
            "unknown-keys-and-types.yaml",
            [
                "unknown-keys-and-types.yaml:2:48: error: claim 'team' must be a single value (string, number or true/false), got a mapping",
                "unknown-keys-and-types.yaml:4:5: error: a grant is missing 'targets'",
                "unknown-keys-and-types.yaml:5:5: error: unknown key 'target' in a grant; expected one of: to, targets, db_roles, rules, masks, strict_masking, limits, audit",
                "unknown-keys-and-types.yaml:8:7: error: 'rules' must be a list, got a mapping",
                "unknown-keys-and-types.yaml:13:41: error: unknown statement class 'writes'; expected one of: read, write, ddl, dcl, admin, code, copy-out, transaction, session, unknown",
                "unknown-keys-and-types.yaml:13:58: error: 'then' must be allow, deny or review, got 'permit'",
                "unknown-keys-and-types.yaml:14:25: error: 'when' of rule 'r2' must be a mapping, got a list",
                "unknown-keys-and-types.yaml:15:27: error: unknown key 'table' in 'when'; expected one of: class, tables, schemas, functions, commands",
                "unknown-keys-and-types.yaml:16:1: error: unknown key 'version' in the policy; expected one of: identities, grants, reviews",
            ]
        },
        {
            "references.yaml",
            [
                "references.yaml:4:9: error: grant refers to undefined identity 'robots'",
                "references.yaml:8:23: error: grant refers to undefined target 'billing' (configured targets: orders, orders-replica, orders-staging)",
                "references.yaml:13:14: error: 'approvers' refers to undefined identity 'dbas'",
                "references.yaml:14:9: error: 'mode' must be hold or async, got 'later'",
                "references.yaml:15:12: error: 'timeout' is not a duration: '10 minutes' (write e.g. 30s, 10m, 1h30m)",
                "references.yaml:16:22: error: 'webhook' must be an absolute http or https URL, got 'ftp://hooks.example.com/x'",
            ]
        },
        {
            "never-match.yaml",
            [
                "never-match.yaml:8:45: error: 'tables' is an empty list; rule 'empty-tables' can never match",
                "never-match.yaml:9:65: error: rule 'unknown-tables' can never match: statements of class unknown have no tables",
                "never-match.yaml:11:15: error: duplicate rule id 'no-ddl' (first at line 10, column 15)",
                "never-match.yaml:13:9: error: rule 'too-late' can never match: rule 'everything' (line 12) matches every statement",
            ]
        },
        {
            "bad-patterns.yaml",
            [
                "bad-patterns.yaml:8:35: error: bad pattern in 'tables': pattern 'db.public.x' has 3 dot-separated parts; write schema.name or name",
                "bad-patterns.yaml:8:50: error: bad pattern in 'tables': pattern 'pub[lic].y': schema part: '[' is not supported in patterns (only * and ? are wildcards)",
                "bad-patterns.yaml:8:64: error: bad pattern in 'tables': pattern '': empty pattern",
                "bad-patterns.yaml:9:36: error: bad pattern in 'schemas': 'public.x' holds a dot; a schema pattern names one schema",
                "bad-patterns.yaml:9:61: error: bad pattern in 'functions': pattern 'a.b.c' has 3 dot-separated parts; write schema.name or name",
                "bad-patterns.yaml:10:15: error: rule id 'bad id!' must start with a letter or digit and hold only letters, digits, '_', '-', '.'",
                "bad-patterns.yaml:11:15: error: rule id 'unknown-sql' is reserved for the built-in deny of statements not understood",
                "bad-patterns.yaml:13:21: error: column pattern 'a.b.c.d' has 4 dot-separated parts; write column, table.column or schema.table.column",
                "bad-patterns.yaml:14:27: error: unknown detector 'passport'; expected one of: email, credit_card, ssn, phone, iban, secret",
                "bad-patterns.yaml:14:44: error: unknown mask 'scramble'; expected one of: email, last4, hash, redact, null, fake, partial(first,last)",
                "bad-patterns.yaml:15:9: error: a mask has either 'columns' or 'detect', not both",
                "bad-patterns.yaml:16:9: error: a mask needs 'columns' or 'detect'",
            ]
        },
        {
            // A single name is a one-entry list and a rule without 'when' matches everything (both documented);
            // a number or true/false where a name belongs, an empty or over-long role name, is an error.
            "name-types.yaml",
            [
                "name-types.yaml:6:15: error: each entry of 'db_roles' must be a role name (a string), got a number '5'; write \"5\" if that is the name",
                "name-types.yaml:8:23: error: each entry of 'targets' must be a target name (a string), got a boolean 'true'; write \"true\" if that is the name",
                "name-types.yaml:9:26: error: each entry of 'db_roles' must be a role name (a string), got a number '0x1F'; write \"0x1F\" if that is the name",
                "name-types.yaml:9:37: error: each entry of 'db_roles' must be a role name (a string), got a number '1.5'; write \"1.5\" if that is the name",
                "name-types.yaml:9:42: error: 'db_roles' holds an empty role name",
                "name-types.yaml:9:46: error: role name 'role_name_of_sixty_four_bytes_which_postgresql_would_cut_to_63_b' is longer than 63 bytes; PostgreSQL would cut it to a different name",
            ]
        },
        {
            "pattern-types.yaml",
            [
                "pattern-types.yaml:9:35: error: each entry of 'tables' must be a name pattern (a string), got a number '7'; write \"7\" if that is the name",
                "pattern-types.yaml:10:39: error: each entry of 'functions' must be a name pattern (a string), got a number '1'; write \"1\" if that is the name",
                "pattern-types.yaml:10:42: error: each entry of 'functions' must be a name pattern (a string), got a boolean 'true'; write \"true\" if that is the name",
            ]
        },
        {
            "review-without-reviews.yaml",
            [
                "review-without-reviews.yaml:3:21: error: identity 'nobody' has no claims; it would match every token",
                "review-without-reviews.yaml:7:15: error: 'db_roles' is an empty list",
                "review-without-reviews.yaml:9:50: error: rule 'pay' sends statements to review, but the policy has no 'reviews' section",
            ]
        },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_file_prints_every_error_with_position(string file, string[] expected)
    {
        var (code, stdout, stderr) = Check(Path.Combine(Support.PolicyDir, file));

        Assert.Equal(PolicyCheck.ExitInvalid, code);
        Assert.Equal("", stdout);
        Assert.Equal(expected, Lines(stderr).Select(l => l.Replace(Support.PolicyDir + Path.DirectorySeparatorChar, "")));
    }

    [Fact]
    public void Example_policy_passes()
    {
        var (code, stdout, stderr) = Check(Path.Combine(Support.PolicyDir, "examples", "policy.yaml"));

        Assert.Equal("", stderr);
        Assert.Equal(PolicyCheck.ExitOk, code);
        Assert.Equal("ok: 4 identities, 3 grants, 13 rules" + Environment.NewLine, stdout);
    }

    [Fact]
    public void A_single_name_a_quoted_number_and_a_rule_without_when_are_accepted()
    {
        // Documented: a single string is a one-entry list; a rule without 'when' (or with 'when: {}') matches everything.
        var result = PolicyLoader.Parse("""
            identities:
              agents: { claims: { groups: ai-agents } }
            grants:
              - to: agents
                targets: orders
                db_roles: "5"
                rules:
                  - { id: everything, then: deny }
            """, "p.yaml");

        Assert.True(result.Success, string.Join("\n", result.Errors));
        var grant = result.Snapshot!.Grants[0];
        Assert.Equal(["orders"], grant.Targets);
        Assert.Equal(["5"], grant.DbRoles);
        Assert.True(grant.Rules[0].When.IsUnconditional);
    }

    [Fact]
    public void Huge_file_is_refused_unread()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gatehouse-huge-{Guid.NewGuid():N}.yaml");
        try
        {
            File.WriteAllText(path, "# " + new string('x', PolicyLoader.MaxFileBytes));
            var (code, _, stderr) = Check(path);

            Assert.Equal(1, code);
            Assert.Equal($"{path}:1:1: error: file is 1048578 bytes; the limit is 1048576 bytes (1 MiB)", Lines(stderr).Single());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_file_is_one_clear_error()
    {
        var (code, _, stderr) = Check("/nonexistent/policy.yaml");

        Assert.Equal(1, code);
        Assert.Equal("/nonexistent/policy.yaml:1:1: error: file not found", Lines(stderr).Single());
    }

    [Fact]
    public void Bytes_that_are_not_utf8_are_refused()
    {
        var result = PolicyLoader.Parse([0x69, 0x3A, 0x20, 0xFF, 0xFE, 0x0A], "p.yaml");

        Assert.Equal("p.yaml:1:1: error: file is not UTF-8 text", Assert.Single(result.Errors).ToString());
    }

    [Theory]
    [InlineData("a: &x 1\nb: *x\n", "p.yaml:1:4: error: anchors (&name) are not supported; repeat the value")]
    [InlineData("identities: {}\ngrants: []\n---\nx: 1\n", "p.yaml:3:1: error: a policy file holds one YAML document; found a second one")]
    [InlineData("a: 1\nb: *x\n", "p.yaml:2:4: error: aliases (*name) are not supported; repeat the value")]
    public void Unsupported_yaml_features_are_named(string text, string error)
    {
        var result = PolicyLoader.Parse(text, "p.yaml");

        Assert.False(result.Success);
        Assert.Contains(error, result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Unknown_target_is_not_checked_without_a_target_list()
    {
        var (code, _, stderr) = CheckWith(Path.Combine(Support.PolicyDir, "examples", "policy.yaml"), new HashSet<string> { "orders" });

        Assert.Equal(1, code);
        Assert.Contains("undefined target 'orders-staging'", stderr, StringComparison.Ordinal);
        Assert.Equal(0, PolicyCheck.Run(Path.Combine(Support.PolicyDir, "examples", "policy.yaml"), null, TextWriter.Null, TextWriter.Null));
    }

    private static (int, string, string) Check(string path) => CheckWith(path, Targets);

    private static (int, string, string) CheckWith(string path, IReadOnlySet<string>? targets)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = PolicyCheck.Run(path, targets, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Lines(string text) => text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
}
