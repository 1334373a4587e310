using System.Globalization;
using System.Text;
using Gatehouse.Audit;
using Gatehouse.Proxy;

namespace Gatehouse.Admin;

/// <summary>
/// /api/sessions: the trail's sessions (auditors), this instance's live ones, and ending one (admins). Lists are
/// newest first; <c>next</c> is the cursor for the page before the oldest one shown (pass it as <c>before</c>).
/// </summary>
internal static class SessionsApi
{
    private const int MaxLimit = 500;

    /// <param name="chain">This instance's audit chain: its sessions without an end are live only if the registry has them.</param>
    public static void Map(WebApplication app, AuditReader? reader, LiveSessions live, string chain, AdminAuth auth)
    {
        const AdminRole readers = AdminRole.Auditor | AdminRole.Admin;
        var group = app.MapGroup("/api/sessions").WithTags("sessions");

        // The query's values are declared for the OpenAPI document; Filter reads and checks them.
        group.MapGet("", async (HttpContext http, string? identity, string? target, string? decision, string? text, string? since, string? until,
            [Microsoft.AspNetCore.Mvc.FromQuery(Name = "live")] string? liveOnly, string? limit, string? before) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            if (failure is not null)
            {
                return failure;
            }

            var (filter, problem) = Filter(http.Request.Query, live, chain);
            if (problem is not null)
            {
                return AdminProblems.BadRequest(problem);
            }

            if (reader is null)
            {
                return Results.Json(new SessionList([], null));
            }

            var page = await reader.ListAsync(filter! with { Limit = filter!.Limit + 1 }, http.RequestAborted);
            var shown = page.Skip(page.Count > filter.Limit ? 1 : 0).ToList();
            string? next = page.Count > filter.Limit ? Cursor(shown[0]) : null;
            shown.Reverse();
            return Results.Json(new SessionList([.. shown.Select(s => SessionItem.Of(s, IsLive(s, live, chain)))], next));
        })
            .WithName("ListSessions").WithSummary("Sessions of the audit trail, newest first, filtered and paged")
            .Produces<SessionList>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(403);

        group.MapGet("/live", async (HttpContext http) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            return failure ?? Results.Json(new SessionList([.. live.All.OrderByDescending(s => s.Started).Select(SessionItem.Of)], null));
        })
            .WithName("ListLiveSessions").WithSummary("This instance's sessions now, with their current statement or idle time")
            .Produces<SessionList>().ProducesProblem(401).ProducesProblem(403);

        group.MapGet("/{id}", async (HttpContext http, string id) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            if (failure is not null)
            {
                return failure;
            }

            var detail = reader is null ? null : await reader.ShowAsync(id, http.RequestAborted);
            return detail is null
                ? AdminProblems.NotFound($"the audit trail has no session {id}")
                : Results.Json(new SessionDetailView(SessionItem.Of(detail.Summary, IsLive(detail.Summary, live, chain)), [.. detail.Statements.Select(StatementItem.Of)]));
        })
            .WithName("GetSession").WithSummary("One session with its statements in order, each with its outcomes")
            .Produces<SessionDetailView>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(404);

        group.MapGet("/{id}/replay", async (HttpContext http, string id) =>
        {
            var (_, failure) = await auth.RequireAsync(http, readers);
            if (failure is not null)
            {
                return failure;
            }

            var detail = reader is null ? null : await reader.ShowAsync(id, http.RequestAborted);
            if (detail is null)
            {
                return AdminProblems.NotFound($"the audit trail has no session {id}");
            }

            var events = new List<ReplayEvent>();
            await foreach (var e in reader!.EventsAsync(id, http.RequestAborted))
            {
                if (ReplayEvent.Of(e, detail.Summary.Started) is { } replay)
                {
                    events.Add(replay);
                }
            }

            return Results.Json(new ReplayView(SessionItem.Of(detail.Summary, IsLive(detail.Summary, live, chain)), events));
        })
            .WithName("ReplaySession").WithSummary("A session's records in order, each offset_ms after its start, for playback at original timing")
            .Produces<ReplayView>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(404);

        group.MapDelete("/{id}", async (HttpContext http, string id) =>
        {
            var (principal, failure) = await auth.RequireAsync(http, AdminRole.Admin);
            if (failure is not null)
            {
                return failure;
            }

            if (live.Find(id) is not { } session)
            {
                return AdminProblems.NotFound($"session {id} is not live on this instance");
            }

            try
            {
                await session.EndAsync(principal!.Subject, http.RequestAborted).WaitAsync(TimeSpan.FromSeconds(10), http.RequestAborted);
            }
            catch (TimeoutException)
            {
                return Results.Problem(statusCode: 504, title: "timeout", detail: $"session {id} was told to end but has not finished within 10 s");
            }

            return Results.NoContent();
        })
            .WithName("EndSession").WithSummary("Ends a live session of this instance: the client gets FATAL 57P01, the upstream connection closes")
            .Produces(204).ProducesProblem(401).ProducesProblem(403).ProducesProblem(404);
    }

    private static bool IsLive(SessionSummary s, LiveSessions live, string chain) =>
        s.Ended is null && (live.IsLive(s.Session) || s.Chain != chain);

    private static (SessionFilter? Filter, string? Problem) Filter(IQueryCollection query, LiveSessions live, string chain)
    {
        string? Get(string name) => query[name].FirstOrDefault() is { Length: > 0 } value ? value : null;
        var filter = new SessionFilter { Identity = Get("identity"), Target = Get("target"), Text = Get("text") };
        if (Get("decision") is { } decision)
        {
            if (decision is not ("allow" or "deny" or "review"))
            {
                return (null, "decision must be allow, deny or review");
            }

            filter = filter with { Decision = decision };
        }

        foreach (var (name, set) in new (string, Func<SessionFilter, DateTimeOffset, SessionFilter>)[] { ("since", (f, t) => f with { Since = t }), ("until", (f, t) => f with { Until = t }) })
        {
            if (Get(name) is { } value)
            {
                if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
                {
                    return (null, $"{name} must be a time such as 2026-01-31T12:00:00Z");
                }

                filter = set(filter, time);
            }
        }

        if (filter.RangeProblem("since", "until") is { } reversed)
        {
            return (null, reversed);
        }

        if (Get("live") is { } liveValue)
        {
            if (!bool.TryParse(liveValue, out bool wanted))
            {
                return (null, "live must be true or false");
            }

            filter = filter with { Where = s => IsLive(s, live, chain) == wanted };
        }

        if (Get("limit") is { } limitValue)
        {
            if (!int.TryParse(limitValue, NumberStyles.None, CultureInfo.InvariantCulture, out int limit) || limit is < 1 or > MaxLimit)
            {
                return (null, $"limit must be a number from 1 to {MaxLimit}");
            }

            filter = filter with { Limit = limit };
        }

        if (Get("before") is { } before)
        {
            if (ParseCursor(before) is not { } cursor)
            {
                return (null, "before must be the next value of an earlier page");
            }

            filter = filter with { Before = cursor };
        }

        return (filter, null);
    }

    // A cursor is the start record's place in the trail's order, opaque to clients.
    private static string Cursor(SessionSummary s) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{s.Started.ToUnixTimeMilliseconds()}|{s.StartSeq}|{s.Chain}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static SessionCursor? ParseCursor(string value)
    {
        try
        {
            string base64 = value.Replace('-', '+').Replace('_', '/');
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '='))).Split('|', 3);
            return parts.Length == 3
                && long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long ms)
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long seq)
                ? new SessionCursor(DateTimeOffset.FromUnixTimeMilliseconds(ms), parts[2], seq)
                : null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return null;
        }
    }
}
