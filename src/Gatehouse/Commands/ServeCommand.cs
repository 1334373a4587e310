using System.CommandLine;
using Gatehouse.Hosting;

namespace Gatehouse.Commands;

internal static class ServeCommand
{
    public static Command Create()
    {
        var config = CommandSupport.ConfigOption();
        var command = new Command("serve", "Run the gateway: the PostgreSQL listener and the admin HTTP API.") { config };
        command.SetAction(async (parse, ct) =>
        {
            var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
            if (gatewayConfig is null)
            {
                return CommandSupport.ExitUsage;
            }

            await using var host = GatewayHost.Create(gatewayConfig, Console.Error);
            if (host is null)
            {
                return CommandSupport.ExitUsage;
            }

            try
            {
                await host.StartAsync(ct);
            }
            catch (GatewayListenException ex)
            {
                await Console.Error.WriteLineAsync($"gatehouse: {ex.Message}");
                return CommandSupport.ExitFailure;
            }
            catch (GatewayStartupException ex)
            {
                foreach (var problem in ex.Problems)
                {
                    await Console.Error.WriteLineAsync($"gatehouse: cannot start: {problem}");
                }

                return CommandSupport.ExitFailure;
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"gatehouse: cannot start: {ex.Message}");
                return CommandSupport.ExitFailure;
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                await Console.Error.WriteLineAsync($"gatehouse: cannot listen: {ex.Message}");
                return CommandSupport.ExitFailure;
            }

            await Console.Error.WriteLineAsync($"gatehouse: PostgreSQL clients on {host.PostgresEndPoint}, admin on {host.AdminUrl}");
            await host.WaitForShutdownAsync(ct);
            return CommandSupport.ExitOk;
        });
        return command;
    }
}
