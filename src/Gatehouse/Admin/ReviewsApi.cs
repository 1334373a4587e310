using Gatehouse.Reviews;
using Gatehouse.State;

namespace Gatehouse.Admin;

/// <summary>
/// /api/reviews: the approval queue over HTTP (SPEC §8). Approvers list, show and decide; auditors and admins list and
/// show. Errors are RFC 9457 problem documents.
/// </summary>
internal static class ReviewsApi
{
    public sealed record DecisionBody(string? Reason);

    public static void Map(WebApplication app, ReviewService reviews, AdminAuth auth)
    {
        const AdminRole readers = AdminRole.Approver | AdminRole.Auditor | AdminRole.Admin;
        app.MapGet("/api/reviews", async (HttpContext http, string? status, int? limit) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            if (failure is not null)
            {
                return failure;
            }

            ReviewStatus? filter = null;
            if (status is not null)
            {
                if (!Enum.TryParse<ReviewStatus>(status, ignoreCase: true, out var parsed))
                {
                    return Results.Problem(statusCode: 400, title: "bad request", detail: $"status must be one of {string.Join(", ", Enum.GetNames<ReviewStatus>()).ToLowerInvariant()}");
                }

                filter = parsed;
            }

            var list = await reviews.Store.ListAsync(filter, Math.Clamp(limit ?? 100, 1, 1000), http.RequestAborted);
            return Results.Json(list.Select(View));
        })
            .WithTags("reviews").WithName("ListReviews").WithSummary("Review requests, optionally by status (pending, approved, rejected, expired, withdrawn)")
            .Produces<object[]>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(403);
        app.MapGet("/api/reviews/{id}", async (HttpContext http, string id) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            if (failure is not null)
            {
                return failure;
            }

            var review = await reviews.Store.GetAsync(id, http.RequestAborted);
            if (review is null)
            {
                return Results.Problem(statusCode: 404, title: "not found", detail: $"no review {id}");
            }

            var votes = await reviews.Store.VotesAsync(id, http.RequestAborted);
            return Results.Json(new { review = View(review), votes = votes.Select(v => new { v.Reviewer, v.Approve, v.Reason, v.Time }) });
        })
            .WithTags("reviews").WithName("GetReview").WithSummary("One review request with its votes")
            .Produces<object>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(404);
        app.MapPost("/api/reviews/{id}/approve", (HttpContext http, string id, DecisionBody? body) => DecideAsync(http, id, true, body?.Reason))
            .WithTags("reviews").WithName("ApproveReview").WithSummary("Approves a pending review (approvers; not one's own statement)")
            .Produces<object>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        app.MapPost("/api/reviews/{id}/reject", (HttpContext http, string id, DecisionBody? body) => DecideAsync(http, id, false, body?.Reason))
            .WithTags("reviews").WithName("RejectReview").WithSummary("Rejects a pending review; a reason is required")
            .Produces<object>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);

        async Task<IResult> DecideAsync(HttpContext http, string id, bool approve, string? reason)
        {
            var (principal, failure) = await auth.RequireAsync(http, AdminRole.Approver);
            if (failure is not null)
            {
                return failure;
            }

            if (!approve && string.IsNullOrWhiteSpace(reason))
            {
                return AdminProblems.BadRequest("a rejection needs a reason: send {\"reason\": \"…\"}");
            }

            var result = await reviews.DecideAsync(id, principal!.Subject, principal.Issuer, principal.Claims, approve, reason, http.RequestAborted);
            if (!result.Counted)
            {
                int status = result.Review is null && result.Error!.StartsWith("no review", StringComparison.Ordinal) ? 404
                    : result.Error!.Contains("not an approver", StringComparison.Ordinal) || result.Error.Contains("its own", StringComparison.Ordinal) ? 403 : 409;
                return Results.Problem(statusCode: status, title: status == 404 ? "not found" : status == 403 ? "forbidden" : "conflict", detail: result.Error);
            }

            return Results.Json(View(result.Review!));
        }
    }

    private static object View(ReviewRecord r) => new
    {
        id = r.Id,
        status = r.Status.ToString().ToLowerInvariant(),
        subject = r.Subject,
        issuer = r.Issuer,
        target = r.Target,
        session = r.Session,
        sql = r.Sql,
        parameters = r.Parameters,
        rule = r.Rule,
        reason = r.Reason,
        mode = r.Mode,
        created = r.Created,
        expires = r.Expires,
        required = r.Required,
        approvals = r.Approvals,
        decided = r.Decided,
        decision_reason = r.DecisionReason,
    };
}
