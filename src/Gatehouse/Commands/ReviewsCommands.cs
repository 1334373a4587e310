using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Gatehouse.Commands;

/// <summary>
/// `gatehouse reviews list|show|approve|reject`: the approval queue, through the admin API (/api/reviews) as the
/// identity of --token (or GATEHOUSE_TOKEN). Everything shown came from clients (SQL, identities, reasons), so it
/// goes through <see cref="TrailSupport.Cell"/>.
/// </summary>
internal static class ReviewsCommands
{
    public static Command Create() => new("reviews", "The approval queue: list, show, approve or reject review requests (through the admin API).")
    {
        List(), Show(), Decide("approve", approve: true), Decide("reject", approve: false),
    };

    private sealed record Connection(Option<string> Server, Option<FileInfo> Config, Option<string> Token);

    private static Connection Options(Command command)
    {
        var connection = new Connection(
            new Option<string>("--server") { Description = "the admin API, e.g. http://127.0.0.1:8080 (default: listen.admin of --config)" },
            CommandSupport.ConfigOption(required: false),
            new Option<string>("--token") { Description = "bearer token of the caller (default: GATEHOUSE_TOKEN)" });
        command.Options.Add(connection.Server);
        command.Options.Add(connection.Config);
        command.Options.Add(connection.Token);
        return connection;
    }

    private static Command List()
    {
        var command = new Command("list", "List review requests, newest first.");
        var connection = Options(command);
        var status = new Option<string>("--status") { Description = "only requests in this state" };
        status.AcceptOnlyFromAmong("pending", "approved", "rejected", "expired", "withdrawn", "used");
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        command.Options.Add(status);
        command.Options.Add(json);
        command.SetAction((parse, ct) => CallAsync(parse, connection, "reviews list", HttpMethod.Get,
            "api/reviews" + (parse.GetValue(status) is { } s ? "?status=" + s : string.Empty), null, body =>
            {
                if (parse.GetValue(json))
                {
                    Console.WriteLine(body.GetRawText());
                    return;
                }

                var table = new Table().AddColumns("id", "status", "subject", "target", "rule", "created", "expires", "approvals", "sql");
                foreach (var r in body.EnumerateArray())
                {
                    table.AddRow(
                        Cell(r, "id"), Cell(r, "status"), Cell(r, "subject"), Cell(r, "target"), Cell(r, "rule"), Cell(r, "created"), Cell(r, "expires"),
                        TrailSupport.Cell($"{Text(r, "approvals")}/{Text(r, "required")}"), Cell(r, "sql"));
                }

                var console = TrailSupport.Terminal();
                console.Write(table);
                console.WriteLine($"{body.GetArrayLength()} review(s)");
            }, ct));
        return command;
    }

    private static Command Show()
    {
        var command = new Command("show", "Show one review request: the statement, its parameters, and the votes so far.");
        var id = new Argument<string>("ID") { Description = "the review id (r-…)" };
        command.Arguments.Add(id);
        var connection = Options(command);
        var json = new Option<bool>("--json") { Description = "print JSON instead of tables" };
        command.Options.Add(json);
        command.SetAction((parse, ct) => CallAsync(parse, connection, "reviews show", HttpMethod.Get, "api/reviews/" + Uri.EscapeDataString(parse.GetValue(id)!), null, body =>
        {
            if (parse.GetValue(json))
            {
                Console.WriteLine(body.GetRawText());
                return;
            }

            var review = body.GetProperty("review");
            var grid = new Grid().AddColumn().AddColumn();
            foreach (var name in new[] { "id", "status", "subject", "issuer", "target", "session", "rule", "reason", "mode", "created", "expires", "decided", "decision_reason", "sql" })
            {
                grid.AddRow(TrailSupport.Cell(name, new Style(decoration: Decoration.Bold)), Cell(review, name));
            }

            grid.AddRow(TrailSupport.Cell("approvals", new Style(decoration: Decoration.Bold)), TrailSupport.Cell($"{Text(review, "approvals")}/{Text(review, "required")}"));
            int n = 1;
            foreach (var p in review.GetProperty("parameters").EnumerateArray())
            {
                grid.AddRow(TrailSupport.Cell($"${n++}", new Style(decoration: Decoration.Bold)), TrailSupport.Cell(p.ValueKind == JsonValueKind.Null ? "NULL" : p.GetString()));
            }

            var votes = new Table().AddColumns("reviewer", "vote", "reason", "time");
            foreach (var v in body.GetProperty("votes").EnumerateArray())
            {
                bool approve = v.TryGetProperty("approve", out var vote) && vote.ValueKind == JsonValueKind.True;
                votes.AddRow(Cell(v, "reviewer"), TrailSupport.Cell(approve ? "approve" : "reject"), Cell(v, "reason"), Cell(v, "time"));
            }

            var console = TrailSupport.Terminal();
            console.Write(grid);
            console.Write(votes);
        }, ct));
        return command;
    }

    private static Command Decide(string verb, bool approve)
    {
        var command = new Command(verb, approve ? "Approve a pending review request." : "Reject a pending review request (a reason is required).");
        var id = new Argument<string>("ID") { Description = "the review id (r-…)" };
        command.Arguments.Add(id);
        var connection = Options(command);
        var reason = new Option<string>("--reason") { Description = "why (recorded in the audit trail)", Required = !approve };
        command.Options.Add(reason);
        command.SetAction((parse, ct) =>
        {
            string payload = JsonSerializer.Serialize(new Dictionary<string, string?> { ["reason"] = parse.GetValue(reason) });
            return CallAsync(parse, connection, "reviews " + verb, HttpMethod.Post, $"api/reviews/{Uri.EscapeDataString(parse.GetValue(id)!)}/{verb}", payload, body =>
                Console.WriteLine($"{TrailSupport.Visible(Text(body, "id"))}: {TrailSupport.Visible(Text(body, "status"))} ({Text(body, "approvals")}/{Text(body, "required")} approvals)"), ct);
        });
        return command;
    }

    /// <summary>One request to the admin API; a failure is the problem document's detail on one line and exit 1.</summary>
    private static async Task<int> CallAsync(ParseResult parse, Connection connection, string verb, HttpMethod method, string path, string? payload, Action<JsonElement> show, CancellationToken ct)
    {
        string? token = parse.GetValue(connection.Token) ?? Environment.GetEnvironmentVariable("GATEHOUSE_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            return TrailSupport.Fail(verb, "a token is required: --token TOKEN or GATEHOUSE_TOKEN");
        }

        if (Server(parse, connection, verb) is not { } server)
        {
            return CommandSupport.ExitUsage;
        }

        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
        if (payload is not null)
        {
            request.Content = new StringContent(payload, Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return TrailSupport.Fail(verb, $"cannot reach {server}: {e.Message}");
        }

        using (response)
        {
            string text = await response.Content.ReadAsStringAsync(ct);
            JsonElement body;
            try
            {
                body = JsonDocument.Parse(text.Length == 0 ? "null" : text).RootElement.Clone();
            }
            catch (JsonException)
            {
                return TrailSupport.Fail(verb, $"{server} answered {(int)response.StatusCode} with something that is not JSON (is it a Gatehouse admin API?)");
            }

            if (!response.IsSuccessStatusCode)
            {
                string detail = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : response.ReasonPhrase ?? "error";
                return TrailSupport.Fail(verb, $"{detail} (HTTP {(int)response.StatusCode})");
            }

            show(body);
            return CommandSupport.ExitOk;
        }
    }

    private static Uri? Server(ParseResult parse, Connection connection, string verb)
    {
        if (parse.GetValue(connection.Server) is { } given)
        {
            if (Uri.TryCreate(given, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            {
                return new Uri(uri.ToString().TrimEnd('/') + "/");
            }

            TrailSupport.Fail(verb, $"--server \"{given}\" is not an http(s) URL");
            return null;
        }

        if (parse.GetValue(connection.Config) is not { } file)
        {
            TrailSupport.Fail(verb, "say where the gateway is: --server URL or --config FILE");
            return null;
        }

        if (CommandSupport.LoadConfig(file) is not { } config)
        {
            return null;
        }

        // A gateway listening on every address is reached on loopback.
        var address = config.AdminListen.Address;
        if (address.Equals(IPAddress.Any))
        {
            address = IPAddress.Loopback;
        }
        else if (address.Equals(IPAddress.IPv6Any))
        {
            address = IPAddress.IPv6Loopback;
        }

        return new Uri($"http://{new IPEndPoint(address, config.AdminListen.Port)}/");
    }

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Null => string.Empty,
            _ => value.GetRawText(),
        } : string.Empty;

    private static Spectre.Console.Text Cell(JsonElement element, string name) => TrailSupport.Cell(Text(element, name));
}
