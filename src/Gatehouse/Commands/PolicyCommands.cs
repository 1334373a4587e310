using System.CommandLine;
using Gatehouse.Policy;
using Gatehouse.Policy.Tools;

namespace Gatehouse.Commands;

internal static class PolicyCommands
{
    public static Command Create() => new("policy", "Validate policies and see what they decide.") { Check(), PolicyExplainCommand.Create() };

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
}
