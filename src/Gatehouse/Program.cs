using System.CommandLine;
using Gatehouse.Commands;

var root = new RootCommand("Gatehouse: a least-privilege PostgreSQL gateway for AI agents and other non-human identities.")
{
    ServeCommand.Create(),
    TokenCommand.Create(),
    PolicyCommands.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"gatehouse: {error.Message}");
    }

    Console.Error.WriteLine("Run 'gatehouse --help' for usage.");
    return 2;
}

return await parsed.InvokeAsync();
