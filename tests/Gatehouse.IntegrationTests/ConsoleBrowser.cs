using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// What a browser does in the console's sign-in, over real HTTP: a cookie jar, redirects followed one by one (so each
/// hop can be looked at), forms read from the HTML and posted. Every URL it visits is kept, to show no token is in one.
/// </summary>
internal sealed partial class ConsoleBrowser : IDisposable
{
    private readonly HttpClient _http;

    public ConsoleBrowser(string gateway)
    {
        Gateway = gateway.TrimEnd('/');
        Cookies = new CookieContainer();
        _http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = Cookies, UseCookies = true }) { Timeout = TimeSpan.FromSeconds(30) };
    }

    public string Gateway { get; }

    public CookieContainer Cookies { get; }

    public List<string> Visited { get; } = [];

    public string? Cookie(string name) => Cookies.GetCookies(new Uri(Gateway))[name]?.Value;

    public async Task<HttpResponseMessage> GetAsync(string url)
    {
        url = Absolute(url);
        Visited.Add(url);
        return await _http.GetAsync(url);
    }

    /// <summary>GETs <paramref name="url"/> and follows redirects until a response is not one, or goes to <paramref name="stopAt"/>.</summary>
    public async Task<HttpResponseMessage> FollowAsync(string url, string? stopAt = null)
    {
        var response = await GetAsync(url);
        for (int hop = 0; hop < 10 && Location(response) is { } next && (stopAt is null || !next.StartsWith(Absolute(stopAt), StringComparison.Ordinal)); hop++)
        {
            response.Dispose();
            response = await GetAsync(next);
        }

        return response;
    }

    public async Task<HttpResponseMessage> PostFormAsync(string url, IEnumerable<KeyValuePair<string, string>> fields)
    {
        url = Absolute(url);
        Visited.Add(url);
        return await _http.PostAsync(url, new FormUrlEncodedContent(fields));
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? csrf = null, string? json = null, string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, Absolute(path));
        Visited.Add(request.RequestUri!.ToString());
        if (csrf is not null)
        {
            request.Headers.Add("X-CSRF-Token", csrf);
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        return await _http.SendAsync(request);
    }

    /// <summary>
    /// Through the dev issuer's login page: /login → the form → posted with the user name and password → the callback's
    /// redirect (not followed). Returns the callback's response.
    /// </summary>
    public async Task<HttpResponseMessage> SignInAtDevIssuerAsync(string user, string password, string returnPath = "/")
    {
        var (form, fields) = await OpenDevLoginAsync(returnPath);
        using var posted = await PostLoginAsync(form, fields, user, password);
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        return await GetAsync(Location(posted)!);
    }

    /// <summary>/login followed to the dev issuer's page; the form's action and its hidden fields.</summary>
    public async Task<(string Action, Dictionary<string, string> Fields)> OpenDevLoginAsync(string returnPath = "/")
    {
        using var page = await FollowAsync("/login?return=" + Uri.EscapeDataString(returnPath));
        string html = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, html);
        return ReadForm(html);
    }

    public Task<HttpResponseMessage> PostLoginAsync(string action, Dictionary<string, string> fields, string user, string password) =>
        PostFormAsync(action, fields.Append(new("username", user)).Append(new("password", password)));

    public static (string Action, Dictionary<string, string> Fields) ReadForm(string html)
    {
        var action = FormAction().Match(html);
        Assert.True(action.Success, "no form on the page:\n" + html);
        var fields = HiddenField().Matches(html).ToDictionary(m => m.Groups["name"].Value, m => WebUtility.HtmlDecode(m.Groups["value"].Value));
        return (WebUtility.HtmlDecode(action.Groups["action"].Value), fields);
    }

    public static string? Location(HttpResponseMessage response) =>
        (int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location
            ? location.IsAbsoluteUri ? location.ToString() : new Uri(response.RequestMessage!.RequestUri!, location).ToString()
            : null;

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>The query parameter <paramref name="name"/> of <paramref name="url"/>, decoded.</summary>
    public static string? Query(string url, string name) =>
        new Uri(url).Query.TrimStart('?').Split('&').Select(p => p.Split('=', 2)).Where(p => p[0] == name).Select(p => Uri.UnescapeDataString(p[1])).FirstOrDefault();

    public void Dispose() => _http.Dispose();

    private string Absolute(string url) => url.StartsWith('/') ? Gateway + url : url;

    [GeneratedRegex("<form method=\"post\" action=\"(?<action>[^\"]*)\">")]
    private static partial Regex FormAction();

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]*)\">")]
    private static partial Regex HiddenField();
}
