using System.CommandLine;
using Gatehouse.Hosting;
using Gatehouse.Identity;
using Gatehouse.Yaml;

namespace Gatehouse.Commands;

internal static class TokenCommand
{
    public static Command Create()
    {
        var dev = new Option<bool>("--dev") { Description = "mint from the gateway's development issuer (the only issuer this command can use)" };
        var subject = new Option<string>("--sub") { Description = "the token's subject", Required = true };
        var claims = new Option<string[]>("--claim") { Description = "an extra claim as key=value; repeat a key for an array", AllowMultipleArgumentsPerToken = false };
        var ttl = new Option<string>("--ttl") { Description = "lifetime such as 15m or 1h", DefaultValueFactory = _ => "1h" };
        var config = CommandSupport.ConfigOption(required: false);
        config.DefaultValueFactory = _ => new FileInfo("gatehouse.yaml");
        var command = new Command("token", "Mint a token from the development issuer of the gateway that --config configures.")
        {
            dev, subject, claims, ttl, config,
        };
        command.SetAction(parse =>
        {
            if (!parse.GetValue(dev))
            {
                Console.Error.WriteLine("gatehouse: token: only --dev tokens can be minted here; get production tokens from your identity provider");
                return CommandSupport.ExitUsage;
            }

            if (!Duration.TryParse(parse.GetValue(ttl) ?? string.Empty, out var lifetime) || lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromDays(1))
            {
                Console.Error.WriteLine("gatehouse: token: --ttl must be a duration from 1s to 1d, such as 15m or 1h");
                return CommandSupport.ExitUsage;
            }

            if (string.IsNullOrWhiteSpace(parse.GetValue(subject)))
            {
                Console.Error.WriteLine("gatehouse: token: --sub must not be empty");
                return CommandSupport.ExitUsage;
            }

            var pairs = new List<KeyValuePair<string, string>>();
            foreach (var claim in parse.GetValue(claims) ?? [])
            {
                int equals = claim.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    Console.Error.WriteLine($"gatehouse: token: --claim \"{claim}\" must be key=value");
                    return CommandSupport.ExitUsage;
                }

                pairs.Add(new(claim[..equals], claim[(equals + 1)..]));
            }

            var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
            if (gatewayConfig is null)
            {
                return CommandSupport.ExitUsage;
            }

            if (!gatewayConfig.Identity.DevIssuer)
            {
                Console.Error.WriteLine($"gatehouse: token: {gatewayConfig.SourcePath} does not enable identity.dev_issuer; refusing to mint");
                return CommandSupport.ExitUsage;
            }

            var issuer = DevIssuer.LoadOrCreate(gatewayConfig.StateDirectory, GatewayHost.DevIssuerUrl(gatewayConfig), TimeProvider.System);
            try
            {
                Console.WriteLine(issuer.Mint(parse.GetValue(subject)!, pairs, lifetime, gatewayConfig.Identity.Audiences[0]));
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"gatehouse: token: {CommandSupport.Message(ex)}");
                return CommandSupport.ExitUsage;
            }

            return CommandSupport.ExitOk;
        });
        return command;
    }
}
