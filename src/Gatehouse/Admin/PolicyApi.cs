using Gatehouse.Policy;
using Gatehouse.Policy.Tools;
using Gatehouse.Yaml;
using Microsoft.Net.Http.Headers;

namespace Gatehouse.Admin;

public sealed record PolicyView(string Source, string Version, string Path, DateTimeOffset LoadedAt);

public sealed record PolicyValid(bool Valid, string Summary);

public sealed record PolicyVersion(string Version);

/// <summary>One error of a candidate policy, as <c>gatehouse policy check</c> prints it (file:line:column: error: message).</summary>
public sealed record PolicyErrorItem(int Line, int Column, string Message);

/// <summary>
/// /api/policy: the policy in force (auditors), a candidate validated (admins), the policy replaced (admins) through
/// the file's own hot-reload path (<see cref="PolicyDistribution"/>). Bodies are YAML text.
/// </summary>
internal static class PolicyApi
{
    private static readonly string[] YamlTypes = ["text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain"];

    public static void Map(WebApplication app, PolicyDistribution policy, AdminAuth auth, Gatehouse.Audit.AuditTrail? audit)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Admin");
        var group = app.MapGroup("/api/policy").WithTags("policy");
        group.MapGet("", async (HttpContext http) =>
        {
            var (_, failure) = await auth.RequireAsync(http, AdminRole.Auditor | AdminRole.Admin);
            if (failure is not null)
            {
                return failure;
            }

            var current = policy.Store.Current;
            http.Response.Headers.ETag = $"\"{current.ContentHash}\"";
            return Results.Json(new PolicyView(current.Text, current.ContentHash, System.IO.Path.GetFullPath(policy.Store.Path), current.LoadedAt));
        })
            .WithName("GetPolicy").WithSummary("The policy in force: its YAML text, version (SHA-256 of the text) and when it was loaded")
            .Produces<PolicyView>().ProducesProblem(401).ProducesProblem(403);

        group.MapPost("/validate", async (HttpContext http) =>
        {
            var (_, failure) = await auth.RequireAsync(http, AdminRole.Admin);
            if (failure is not null)
            {
                return failure;
            }

            var (bytes, problem) = await ReadYamlAsync(http);
            if (problem is not null)
            {
                return problem;
            }

            var load = policy.Validate(bytes);
            return load.Snapshot is { } snapshot ? Results.Json(new PolicyValid(true, PolicyCheck.Summary(snapshot))) : Invalid(load.Errors);
        })
            .WithName("ValidatePolicy").WithSummary("Validates a candidate policy as a reload would; errors carry line and column")
            .Accepts<string>(YamlTypes[0], YamlTypes[1..]).Produces<PolicyValid>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(413).ProducesProblem(415)
            .ProducesValidationProblem(422);

        group.MapPut("", async (HttpContext http) =>
        {
            var (principal, failure) = await auth.RequireAsync(http, AdminRole.Admin);
            if (failure is not null)
            {
                return failure;
            }

            var (bytes, problem) = await ReadYamlAsync(http);
            if (problem is not null)
            {
                return problem;
            }

            string? ifMatch = http.Request.Headers.IfMatch.Count > 0 ? http.Request.Headers.IfMatch.ToString() : null;
            string previous = policy.Store.Current.ContentHash;
            var result = await policy.ReplaceAsync(bytes, ifMatch, principal!.Subject, http.RequestAborted);
            if (result.Errors is { } errors)
            {
                return Invalid(errors);
            }

            if (result.Version is not { } version)
            {
                return Results.Problem(statusCode: result.Status, title: result.Status == 412 ? "precondition failed" : null, detail: result.Problem);
            }

            // Who changed what every agent may do is the auditors' business: in the trail and the log. The policy is in
            // force already, so a failed write is logged, not answered as a failed replacement.
            logger.LogWarning("Policy replaced through the admin API by {Subject}: version {Version} (was {Previous})", principal.Subject, version, previous);
            if (audit is not null)
            {
                try
                {
                    await audit.Append(Gatehouse.Audit.AuditKinds.PolicyReplaced, null, new Gatehouse.Audit.PolicyReplacedRecord(principal.Subject, principal.Issuer, version, previous), CancellationToken.None);
                }
                catch (Gatehouse.Audit.AuditUnavailableException ex)
                {
                    logger.LogError("The policy replacement by {Subject} could not be recorded in the audit trail: {Reason}", principal.Subject, ex.Message);
                }
            }

            http.Response.Headers.ETag = $"\"{version}\"";
            return Results.Json(new PolicyVersion(version));
        })
            .WithName("ReplacePolicy").WithSummary("Replaces the policy (optional If-Match: \"<version>\"); answers once the new policy is in force on this instance")
            .Accepts<string>(YamlTypes[0], YamlTypes[1..]).Produces<PolicyVersion>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(412)
            .ProducesProblem(413).ProducesProblem(415).ProducesValidationProblem(422).ProducesProblem(503);
    }

    private static IResult Invalid(IReadOnlyList<YamlError> errors) => Results.Problem(
        statusCode: 422,
        title: "invalid policy",
        detail: errors.Count == 1 ? $"{errors[0].Line}:{errors[0].Column}: {errors[0].Message}" : $"{errors.Count} errors; the first: {errors[0].Line}:{errors[0].Column}: {errors[0].Message}",
        extensions: new Dictionary<string, object?> { ["errors"] = errors.Select(e => new PolicyErrorItem(e.Line, e.Column, e.Message)).ToList() });

    // The body is the YAML text itself, at most the size a policy file may have; a UTF-8 BOM is dropped so the
    // version is the hash of the text every instance writes.
    private static async Task<(byte[] Bytes, IResult? Problem)> ReadYamlAsync(HttpContext http)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) || !YamlTypes.Contains(type.MediaType.Value, StringComparer.OrdinalIgnoreCase))
        {
            return ([], Results.Problem(statusCode: 415, title: "unsupported media type", detail: "send the policy as YAML text: Content-Type text/yaml, application/yaml or text/plain"));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            buffer.Write(chunk.AsSpan(0, read));
            if (buffer.Length > PolicyLoader.MaxFileBytes)
            {
                return ([], Results.Problem(statusCode: 413, title: "too large", detail: $"a policy is at most {PolicyLoader.MaxFileBytes} bytes (1 MiB)"));
            }
        }

        var bytes = buffer.ToArray();
        return (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? bytes[3..] : bytes, null);
    }
}
