using System.CommandLine;
using Gatehouse.Demo;

namespace Gatehouse.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port")
        {
            Description = $"the gateway's PostgreSQL port on 127.0.0.1 (0: any free port)",
            DefaultValueFactory = _ => DemoOptions.DefaultPort,
        };
        var adminPort = new Option<int>("--admin-port")
        {
            Description = "the admin HTTP port on 127.0.0.1: /healthz, /metrics, the dev issuer (0: any free port)",
            DefaultValueFactory = _ => DemoOptions.DefaultAdminPort,
        };
        var upstream = new Option<string>("--upstream")
        {
            Description = $"use an existing server instead of a throwaway one: {UpstreamUri.Form}; its user must have CREATEDB and CREATEROLE; the demo makes a database and roles there and drops them at exit (password: in the URI or PGPASSWORD; never printed)",
        };
        var pgBin = new Option<string>("--pg-bin")
        {
            Description = $"the folder with initdb and pg_ctl (default: PATH, then {PostgresBinaries.DefaultSearchRoot}/*/bin, or ${PostgresBinaries.SearchRootVariable}/*/bin)",
        };
        var keep = new Option<bool>("--keep") { Description = "keep the temp folder (configuration, policy, logs, PostgreSQL's data) at exit, for debugging; PostgreSQL is still stopped" };
        var quiet = new Option<bool>("--quiet") { Description = "show only warnings from the gateway's log (by default sessions and refusals are shown)" };
        var command = new Command("demo", "Start a throwaway PostgreSQL with a shop schema holding fake PII, and a gateway in front of it with a demo policy and the development issuer; print a ready psql line. Ctrl-C stops and removes everything.")
        {
            port, adminPort, upstream, pgBin, keep, quiet,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new DemoOptions
            {
                Port = parse.GetValue(port),
                AdminPort = parse.GetValue(adminPort),
                Upstream = parse.GetValue(upstream),
                PostgresBin = parse.GetValue(pgBin),
                Keep = parse.GetValue(keep),
                Quiet = parse.GetValue(quiet),
            };
            return await new DemoRunner(options, Console.Out, Console.Error).RunAsync(ct);
        });
        return command;
    }
}
