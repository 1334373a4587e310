using System.Net;
using System.Text.RegularExpressions;

namespace Gatehouse.ConsoleTests;

/// <summary>The console's files over plain HTTP, and the security headers on every response of the admin listener.</summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class ConsoleHeadersTests(ConsoleGateway gateway)
{
    private const string Csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private readonly HttpClient _http = new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(gateway.AdminUrl) };

    private static void AssertSecurityHeaders(HttpResponseMessage response, bool exactCsp = true)
    {
        string csp = string.Join(", ", response.Headers.GetValues("Content-Security-Policy"));
        if (exactCsp)
        {
            Assert.Equal(Csp, csp);
        }
        else
        {
            Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        }

        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }

    [Theory]
    [InlineData("/healthz", HttpStatusCode.OK)]
    [InlineData("/metrics", HttpStatusCode.OK)]
    [InlineData("/api/reviews", HttpStatusCode.Unauthorized)]
    [InlineData("/api/me", HttpStatusCode.Unauthorized)]
    [InlineData("/assets/no-such-file.js", HttpStatusCode.NotFound)]
    [InlineData("/no/such/path", HttpStatusCode.NotFound)]
    [InlineData("/login?return=/", HttpStatusCode.Redirect)]
    public async Task Every_admin_listener_response_carries_the_security_headers(string path, HttpStatusCode status)
    {
        using var response = await _http.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        AssertSecurityHeaders(response);
    }

    [Fact]
    public async Task The_dev_issuer_login_page_carries_the_security_headers()
    {
        using var login = await _http.GetAsync("/login?return=/");
        using var page = await _http.GetAsync(login.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<form", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        AssertSecurityHeaders(page, exactCsp: false);
    }

    [Fact]
    public async Task The_console_page_is_not_stored_and_its_files_revalidate_by_etag()
    {
        using var index = await _http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html; charset=utf-8", index.Content.Headers.ContentType!.ToString());
        Assert.Contains("no-store", index.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        AssertSecurityHeaders(index);

        using var script = await _http.GetAsync("/assets/app.js");
        Assert.Equal("text/javascript; charset=utf-8", script.Content.Headers.ContentType!.ToString());
        var etag = script.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, "/assets/app.js") { Headers = { IfNoneMatch = { etag } } };
        using var notModified = await _http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(etag, notModified.Headers.ETag);

        using var style = await _http.GetAsync("/assets/console.css");
        Assert.Equal("text/css; charset=utf-8", style.Content.Headers.ContentType!.ToString());
        Assert.NotEqual(etag, style.Headers.ETag);
    }

    [Fact]
    public async Task Every_module_the_console_imports_is_served_and_none_writes_markup()
    {
        string html = await _http.GetStringAsync("/");
        Assert.DoesNotMatch(StyleOrHandlerAttribute(), html);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        var pending = new Queue<string>(Referenced(html));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryDequeue(out var path))
        {
            if (!seen.Add(path))
            {
                continue;
            }

            using var response = await _http.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode}");
            string text = await response.Content.ReadAsStringAsync();
            Assert.DoesNotMatch(MarkupSink(), text);
            foreach (Match import in ModuleImport().Matches(text))
            {
                pending.Enqueue("/assets/" + import.Groups[1].Value);
            }
        }

        Assert.Contains("/assets/app.js", seen);
        Assert.True(seen.Count >= 8, string.Join(", ", seen));
    }

    private static IEnumerable<string> Referenced(string html) =>
        AssetReference().Matches(html).Select(m => m.Groups[1].Value);

    [GeneratedRegex("(?:src|href)=\"(/assets/[^\"]+)\"")]
    private static partial Regex AssetReference();

    [GeneratedRegex(@"from '\./([a-z-]+\.js)'")]
    private static partial Regex ModuleImport();

    // Ways to turn a string into markup or code; the console builds DOM only through dom.js's h().
    [GeneratedRegex(@"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'")]
    private static partial Regex MarkupSink();

    [GeneratedRegex(@"\s(style|on[a-z]+)=", RegexOptions.IgnoreCase)]
    private static partial Regex StyleOrHandlerAttribute();
}
