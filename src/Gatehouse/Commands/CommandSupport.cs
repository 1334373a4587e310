using System.CommandLine;
using Gatehouse.Configuration;

namespace Gatehouse.Commands;

/// <summary>Shared pieces of the CLI verbs: the --config option and config loading with one-line errors.</summary>
internal static class CommandSupport
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static Option<FileInfo> ConfigOption(bool required = true) => new("--config", "-c")
    {
        Description = "the gateway configuration file (gatehouse.yaml)",
        Required = required,
    };

    /// <summary>An argument exception's message without .NET's " (Parameter 'name')", which names code, not an option.</summary>
    public static string Message(ArgumentException ex) =>
        ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);

    public static GatewayConfig? LoadConfig(FileInfo file)
    {
        var config = GatewayConfigLoader.Load(file.FullName, out var errors);
        foreach (var error in errors)
        {
            Console.Error.WriteLine(error);
        }

        return config;
    }
}
