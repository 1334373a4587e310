using System.Net;

namespace Gatehouse.Pipeline;

/// <summary>
/// The MCP door logs in to the wire door over its private Unix socket, where the socket's peer says nothing about
/// the agent. So the door names the HTTP client's address in the session's application_name, and the wire door reads
/// it back only for sessions of that socket (no one else can reach it: 0700 directory in the state directory).
/// </summary>
public static class McpClientAddress
{
    public const string ApplicationName = "gatehouse-mcp";

    /// <summary>The application_name of a wire session opened for an HTTP client at <paramref name="address"/>.</summary>
    public static string Named(IPAddress? address) =>
        address is null ? ApplicationName : $"{ApplicationName} {(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address)}";

    /// <summary>The client address an MCP-door session's application_name carries; null when it carries none.</summary>
    public static string? Read(string? applicationName) =>
        applicationName is not null && applicationName.StartsWith(ApplicationName + " ", StringComparison.Ordinal)
        && IPAddress.TryParse(applicationName.AsSpan(ApplicationName.Length + 1), out var address)
            ? address.ToString()
            : null;
}
