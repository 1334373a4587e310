using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Json;

namespace Gatehouse.Admin;

/// <summary>
/// Errors of the admin listener as RFC 9457 problem documents (application/problem+json: type, title, status,
/// detail): an unknown /api path (404), a wrong method (405) or content type (415), a body that cannot be read (400, one line saying why),
/// and a bug (500, logged; the client sees no stack trace). JSON of the admin API is snake_case.
/// </summary>
internal static class AdminProblems
{
    public static void AddServices(IServiceCollection services)
    {
        services.AddProblemDetails();
        services.Configure<JsonOptions>(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
    }

    /// <summary>Call first after Build, so every later endpoint's failures pass through here.</summary>
    public static void Use(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Admin");
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // A client's bad request (unreadable JSON, a malformed query value) is the client's: it is answered with a
            // 400, and not logged with a stack trace that anyone, signed in or not, could fill the operator's log with.
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException,
            ExceptionHandler = async http =>
            {
                var error = http.Features.Get<IExceptionHandlerFeature>()?.Error;
                var (status, title, detail) = error switch
                {
                    BadHttpRequestException bad => (bad.StatusCode, "bad request", BadRequestDetail(bad)),
                    Gatehouse.Audit.AuditReadException unreadable => (StatusCodes.Status500InternalServerError, "audit trail unreadable", unreadable.Message),
                    _ => (StatusCodes.Status500InternalServerError, "internal error", "the gateway failed to handle this request; the operator's log says why"),
                };
                if (status >= 500)
                {
                    logger.LogError(error, "Admin request {Method} {Path} failed", http.Request.Method, http.Request.Path.Value);
                }

                await Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(http);
            },
        });
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            if (IsApi(http.Request.Path))
            {
                int status = http.Response.StatusCode;
                string detail = status switch
                {
                    404 => $"no such endpoint: {http.Request.Path.Value}",
                    405 => $"{http.Request.Method} is not allowed on {http.Request.Path.Value}",
                    415 => $"{http.Request.Path.Value} does not take a body of Content-Type {http.Request.ContentType ?? "(none)"}; /openapi/v1.json lists what it takes",
                    _ => $"the request failed with status {status}",
                };
                await Results.Problem(statusCode: status, detail: detail).ExecuteAsync(http);
            }
        });
    }

    public static IResult BadRequest(string detail) => Results.Problem(statusCode: 400, title: "bad request", detail: detail);

    public static IResult NotFound(string detail) => Results.Problem(statusCode: 404, title: "not found", detail: detail);

    private static bool IsApi(PathString path) => path.StartsWithSegments("/api") || path.StartsWithSegments("/auth");

    // A body that does not bind says so in one line: what was wrong, never the framework's parameter names.
    private static string BadRequestDetail(BadHttpRequestException bad) => bad.InnerException switch
    {
        JsonException json => "the request body is not valid JSON" + (json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine + 1})" : ""),
        _ when bad.StatusCode == StatusCodes.Status413PayloadTooLarge => "the request body is too large",
        _ when bad.Message.Contains("body", StringComparison.OrdinalIgnoreCase) => "the request body is missing or not the JSON this endpoint takes",
        _ => "a query or route value has the wrong form",
    };
}
