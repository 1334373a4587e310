using System.CommandLine;
using Gatehouse.Policy;
using Gatehouse.Policy.Tools;
using Gatehouse.Sql;

namespace Gatehouse.Commands;

internal static class PolicyCommands
{
    public static Command Create() => new("policy", "Validate policies and see what they decide.") { Check(), Explain() };

    private static Command Check()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "the policy file" };
        var config = CommandSupport.ConfigOption(required: false);
        config.Description = "also check that grants name targets this configuration defines";
        var command = new Command("check", "Validate a policy file; every error carries file, line and column.") { file, config };
        command.SetAction(parse =>
        {
            IReadOnlySet<string>? targets = null;
            if (parse.GetValue(config) is { } configFile)
            {
                var gatewayConfig = CommandSupport.LoadConfig(configFile);
                if (gatewayConfig is null)
                {
                    return CommandSupport.ExitUsage;
                }

                targets = gatewayConfig.Targets.Keys.ToHashSet();
            }

            return PolicyCheck.Run(parse.GetValue(file)!.FullName, targets, Console.Out, Console.Error);
        });
        return command;
    }

    private static Command Explain()
    {
        var config = CommandSupport.ConfigOption();
        var claims = new Option<string>("--claims") { Description = "the token's claims as a JSON object", Required = true };
        var target = new Option<string>("--target") { Description = "the target (dbname) to connect to", Required = true };
        var sql = new Option<string>("--sql") { Description = "the SQL to decide on", Required = true };
        var command = new Command("explain", "Print the decision (allow/deny/review), the rule that made it, and the masks.")
        {
            config, claims, target, sql,
        };
        command.SetAction(parse =>
        {
            var gatewayConfig = CommandSupport.LoadConfig(parse.GetValue(config)!);
            if (gatewayConfig is null)
            {
                return CommandSupport.ExitUsage;
            }

            if (gatewayConfig.PolicyPath is null)
            {
                Console.Error.WriteLine($"{gatewayConfig.SourcePath}: error: no 'policy' configured");
                return CommandSupport.ExitUsage;
            }

            string targetName = parse.GetValue(target)!;
            if (!gatewayConfig.Targets.ContainsKey(targetName))
            {
                Console.Error.WriteLine($"gatehouse: unknown target \"{targetName}\"; known targets: {string.Join(", ", gatewayConfig.Targets.Keys)}");
                return CommandSupport.ExitUsage;
            }

            var loaded = PolicyLoader.LoadFile(gatewayConfig.PolicyPath, gatewayConfig.Targets.Keys.ToHashSet());
            if (loaded.Snapshot is null)
            {
                foreach (var error in loaded.Errors)
                {
                    Console.Error.WriteLine(error);
                }

                return CommandSupport.ExitFailure;
            }

            var statements = SqlAnalyzer.Instance.Analyze(parse.GetValue(sql)!, new SqlSessionState()).Statements;
            return PolicyExplain.Run(loaded.Snapshot, parse.GetValue(claims)!, targetName, statements, Console.Out, Console.Error);
        });
        return command;
    }
}
