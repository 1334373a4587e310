using System.CommandLine;
using System.CommandLine.Parsing;

namespace Gatehouse.Commands;

/// <summary>
/// A command line that does not parse, as one line in the CLI's own words: the first real mistake (not the "required
/// command" that follows from a mistyped one), option values named by what they should be rather than by .NET type,
/// and where the verb's help is.
/// </summary>
internal static class ParseErrors
{
    private const string NoCommand = "Required command was not provided.";

    public static string Describe(ParseResult parsed)
    {
        var error = parsed.Errors.FirstOrDefault(e => e.Message != NoCommand) ?? parsed.Errors[0];
        string message = error.Message == NoCommand
            ? "a command is needed: " + string.Join(", ", parsed.CommandResult.Command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))
            : error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal) && Unparsable(error) is { } described
            ? described
            : OneLine(error.Message);
        return $"gatehouse: {message.TrimEnd('.')}. Run '{CommandPath(parsed.CommandResult)} --help' for usage.";
    }

    // "Argument 'x' not recognized. Must be one of:" is followed by one line per choice.
    private static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 1 ? lines[0] : $"{lines[0]} {string.Join(", ", lines[1..])}";
    }

    private static string? Unparsable(ParseError error)
    {
        var (name, type, tokens) = error.SymbolResult switch
        {
            OptionResult option => ($"option '{option.Option.Name}'", option.Option.ValueType, option.Tokens),
            ArgumentResult argument => ($"argument {argument.Argument.Name}", argument.Argument.ValueType, argument.Tokens),
            _ => (null, typeof(object), []),
        };
        if (name is null || tokens.Count == 0)
        {
            return null;
        }

        return $"{name} needs {Expected(Nullable.GetUnderlyingType(type) ?? type)}, not '{tokens[^1].Value}'";
    }

    private static string Expected(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) || type == typeof(decimal) ? "a number"
        : type == typeof(bool) ? "true or false"
        : type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))
        : "a valid value";

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (var current = command; current is not null; current = current.Parent as CommandResult)
        {
            names.Add(current.Parent is null ? "gatehouse" : current.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}
