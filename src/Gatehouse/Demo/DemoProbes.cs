using Npgsql;

namespace Gatehouse.Demo;

/// <summary>
/// What the demo finds out by trying, instead of claiming: whether a masked column comes back masked through the
/// gateway, and whether the admin listener serves a web console. The banner says what was seen.
/// </summary>
internal static class DemoProbes
{
    public enum MaskingState
    {
        Applied,
        NotApplied,
        Unknown,
    }

    public sealed record MaskingResult(MaskingState State, string Seen, string Real);

    /// <summary>Reads one customer's e-mail through the gateway as the agent and directly as the provisioner.</summary>
    public static async Task<MaskingResult> MaskingAsync(int gatewayPort, string agentToken, string directConnectionString, CancellationToken ct)
    {
        string sql = $"SELECT email FROM customers WHERE id = {DemoFiles.ProbeCustomer}";
        string real;
        try
        {
            await using var direct = new NpgsqlConnection(directConnectionString);
            await direct.OpenAsync(ct);
            await using var read = new NpgsqlCommand(sql, direct);
            real = (string)(await read.ExecuteScalarAsync(ct))!;
        }
        catch (NpgsqlException ex)
        {
            return new MaskingResult(MaskingState.Unknown, ex.Message, string.Empty);
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = gatewayPort,
            Database = DemoFiles.Target,
            Username = "agent",
            Password = agentToken,
            SslMode = SslMode.Require,
            Pooling = false,
            Timeout = 15,
            ApplicationName = "gatehouse demo (masking check)",
        };
        try
        {
            await using var gateway = new NpgsqlConnection(builder.ConnectionString);
            await gateway.OpenAsync(ct);
            await using var read = new NpgsqlCommand(sql, gateway);
            string seen = (await read.ExecuteScalarAsync(ct))?.ToString() ?? "NULL";
            return new MaskingResult(seen == real ? MaskingState.NotApplied : MaskingState.Applied, seen, real);
        }
        catch (NpgsqlException ex)
        {
            return new MaskingResult(MaskingState.Unknown, ex.Message, real);
        }
    }

    /// <summary>The console's URL when GET / on the admin listener answers with HTML, else null.</summary>
    public static async Task<string?> ConsoleAsync(string adminUrl, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(new Uri(adminUrl.TrimEnd('/') + "/"), ct);
            return response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == "text/html"
                ? adminUrl.TrimEnd('/') + "/"
                : null;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return null;
        }
    }
}
