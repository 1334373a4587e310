namespace Gatehouse.Admin;

/// <summary>/openapi/v1.json: the admin API's endpoints (/api/*, /healthz, /readyz, /metrics), generated from their metadata.</summary>
internal static class AdminOpenApi
{
    public static void AddServices(IServiceCollection services) =>
        services.AddOpenApi(o =>
        {
            o.ShouldInclude = d => d.RelativePath is { } path && (path.StartsWith("api/", StringComparison.Ordinal) || path is "healthz" or "readyz" or "metrics");
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Gatehouse admin API";
                document.Info.Description = "Sessions, replay, reviews, policy, leases and health on listen.admin. Calls carry Authorization: Bearer <token> "
                    + "or the console's session cookie (with X-CSRF-Token on writes). Errors are RFC 9457 problem documents.";
                return Task.CompletedTask;
            });
        });

    public static void Map(WebApplication app) => app.MapOpenApi("/openapi/{documentName}.json");
}
