using System.Net;
using Gatehouse.Configuration;
using Microsoft.AspNetCore.HostFiltering;

namespace Gatehouse.Admin;

/// <summary>
/// The Host names the admin port answers to. A page on another site can point a DNS name of its own at 127.0.0.1
/// (DNS rebinding) and read whatever the browser may reach there without credentials; checking the Host header
/// closes that. On a loopback bind the loopback names and the bound address are allowed, on any other bind its
/// address; <c>admin.allowed_hosts</c> and the console's <c>redirect_uri</c> add names. A wildcard bind without
/// <c>admin.allowed_hosts</c> answers to any name (its names are not known).
/// </summary>
internal static class AdminHosts
{
    public static IReadOnlyList<string> Allowed(GatewayConfig config)
    {
        var address = config.AdminListen.Address;
        var named = config.Admin.AllowedHosts;
        if ((address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) && named.Count == 0)
        {
            return ["*"];
        }

        var hosts = new List<string>(named) { Literal(address) };
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            hosts.AddRange(["localhost", "127.0.0.1", "[::1]"]);
        }

        if (config.Admin.SignIn.RedirectUri is { } redirect && Uri.TryCreate(redirect, UriKind.Absolute, out var uri))
        {
            hosts.Add(uri.Host);
        }

        return hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>A host name, <c>*.</c> and a domain, or an IP address (IPv6 in brackets).</summary>
    public static bool IsPattern(string host)
    {
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            return IPAddress.TryParse(host.AsSpan(1, host.Length - 2), out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        string name = host.StartsWith("*.", StringComparison.Ordinal) ? host[2..] : host;
        return name.Length is > 0 and <= 253
            && name.Split('.').All(label => label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
    }

    public static void AddServices(IServiceCollection services, GatewayConfig config) =>
        services.Configure<HostFilteringOptions>(o =>
        {
            o.AllowedHosts = Allowed(config).ToList();
            o.AllowEmptyHosts = true; // HTTP/1.0 probes send none; a browser always sends one
        });

    private static string Literal(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
}
