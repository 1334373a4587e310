using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Gatehouse.Testing;

/// <summary>
/// A real third-party OpenID provider for tests: <c>node tests/node/oidc-provider.mjs</c> (panva/oidc-provider)
/// on a free loopback port, with one client-credentials client whose access tokens are RS256 JWTs with
/// <c>aud: gatehouse</c>, and the authorization code + PKCE flow for clients registered with <see cref="RegisterClientAsync"/>,
/// signing in the subject a test armed with <see cref="ArmLoginAsync"/>. Needs <c>npm ci --prefix tests/node</c> first (test.sh does it).
/// The process is killed on dispose, and exits by itself if this process dies (its stdin closes).
/// </summary>
public sealed class OidcProviderServer : IAsyncDisposable
{
    public const string ClientId = "gatehouse-test";
    public const string ClientSecret = "gatehouse-test-secret";
    public const string Audience = "gatehouse";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private readonly Process _process;
    private readonly StringBuilder _stderr;
    private int _disposed;

    private OidcProviderServer(Process process, StringBuilder stderr, string issuer)
    {
        _process = process;
        _stderr = stderr;
        Issuer = issuer;
    }

    /// <summary>The issuer URL, e.g. <c>http://127.0.0.1:PORT</c>; discovery lives under it.</summary>
    public string Issuer { get; }

    /// <summary>The token endpoint of this provider.</summary>
    public string TokenEndpoint => Issuer + "/token";

    /// <summary>What the provider wrote to stderr so far, for failure messages.</summary>
    public string ErrorOutput
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static async Task<OidcProviderServer> StartAsync(CancellationToken ct)
    {
        string root = RepositoryRoot();
        string nodeDirectory = Path.Combine(root, "tests", "node");
        string script = Path.Combine(nodeDirectory, "oidc-provider.mjs");
        if (!Directory.Exists(Path.Combine(nodeDirectory, "node_modules", "oidc-provider")))
        {
            throw new InvalidOperationException(
                $"oidc-provider is not installed under {nodeDirectory}/node_modules: run `npm ci --prefix tests/node` from the repository root (test.sh does this)");
        }

        int port = FreePort();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = nodeDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(ClientId);
        start.ArgumentList.Add(ClientSecret);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("`node` was not found on PATH; install Node.js 20+ (test.sh installs it)", ex);
        }

        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        var server = new OidcProviderServer(process, stderr, $"http://127.0.0.1:{port}");
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (true)
            {
                string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null)
                {
                    await process.WaitForExitAsync(timeout.Token);
                    throw new InvalidOperationException($"oidc-provider exited with code {process.ExitCode} before it was ready:\n{server.ErrorOutput}");
                }

                if (line.StartsWith("READY ", StringComparison.Ordinal))
                {
                    string announced = line["READY ".Length..].Trim();
                    if (announced != server.Issuer)
                    {
                        throw new InvalidOperationException($"oidc-provider announced {announced}, expected {server.Issuer}");
                    }

                    break;
                }
            }

            // Keep draining stdout so the child never blocks on a full pipe.
            _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
            return server;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"oidc-provider did not print READY within 30 s:\n{server.ErrorOutput}");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Client-credentials grant at the token endpoint; returns the JWT access token.</summary>
    public async Task<string> GetClientCredentialsTokenAsync(string? scope = null, CancellationToken ct = default)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = ClientId,
            ["client_secret"] = ClientSecret,
        };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        using var content = new FormUrlEncodedContent(form);
        using var response = await Http.PostAsync(TokenEndpoint, content, ct);
        string body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"token endpoint answered {(int)response.StatusCode}: {body}");
        }

        using var json = JsonDocument.Parse(body);
        return json.RootElement.TryGetProperty("access_token", out var token) && token.GetString() is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"token endpoint answered without access_token: {body}");
    }

    /// <summary>Registers a client for the authorization code flow (dynamic registration); returns its id and secret.</summary>
    public async Task<(string ClientId, string ClientSecret)> RegisterClientAsync(string redirectUri, CancellationToken ct = default)
    {
        string request = JsonSerializer.Serialize(new
        {
            redirect_uris = new[] { redirectUri },
            grant_types = new[] { "authorization_code" },
            response_types = new[] { "code" },
            token_endpoint_auth_method = "client_secret_basic",
        });
        using var content = new StringContent(request, Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync(Issuer + "/reg", content, ct);
        string body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"registration endpoint answered {(int)response.StatusCode}: {body}");
        }

        using var json = JsonDocument.Parse(body);
        return (json.RootElement.GetProperty("client_id").GetString()!, json.RootElement.GetProperty("client_secret").GetString()!);
    }

    /// <summary>
    /// Arms the next authorization: the provider's interaction signs <paramref name="subject"/> in without a form, and its
    /// access token carries <paramref name="claims"/>. Each armed login is used by one authorization.
    /// </summary>
    public async Task ArmLoginAsync(string subject, IReadOnlyDictionary<string, object>? claims = null, CancellationToken ct = default)
    {
        using var content = new StringContent(JsonSerializer.Serialize(new { subject, claims = claims ?? new Dictionary<string, object>() }), Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync(Issuer + "/test/next-login", content, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"arming a login answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                _process.Kill(entireProcessTree: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or IOException)
        {
            // Already gone, or will be reaped with us.
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The folder holding Gatehouse.slnx, found by walking up from the test assembly.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Gatehouse.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"Gatehouse.slnx not found above {AppContext.BaseDirectory}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
