using System.CommandLine;
using Gatehouse.Commands;

// Socket continuations run on the epoll thread instead of hopping to the thread pool: the relay does
// little work per message, so the hop costs more than the work. Must be set before the first socket.
// See docs/design/performance.md. An explicit setting by the operator wins.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

var root = new RootCommand("Gatehouse: a least-privilege PostgreSQL gateway for AI agents and other non-human identities.")
{
    ServeCommand.Create(),
    TokenCommand.Create(),
    PolicyCommands.Create(),
    SessionsCommands.Create(),
    AuditCommands.Create(),
    DemoCommand.Create(),
    McpCommand.Create(),
    ReviewsCommands.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    await Console.Error.WriteLineAsync(ParseErrors.Describe(parsed));
    return CommandSupport.ExitUsage;
}

return await parsed.InvokeAsync();
