using System.Globalization;
using System.Text;
using Gatehouse.Audit;
using Gatehouse.Configuration;
using Gatehouse.State;
using Gatehouse.Yaml;
using Spectre.Console;

namespace Gatehouse.Commands;

/// <summary>
/// Shared pieces of the verbs that read the audit trail: opening the store the config names, times given as
/// ISO-8601 or relative (2h, 7d), and terminal output of untrusted text. Everything in the trail came from a
/// client (SQL, identities, messages), so it is shown with control characters made visible and never parsed
/// as Spectre markup.
/// </summary>
internal static class TrailSupport
{
    /// <summary>The verb's name for error lines (gatehouse: sessions list: …).</summary>
    public static int Fail(string verb, string message)
    {
        Console.Error.WriteLine($"gatehouse: {verb}: {Visible(message)}");
        return CommandSupport.ExitFailure;
    }

    /// <summary>A mistake in the command line: one line, exit 2.</summary>
    public static int Usage(string verb, string message)
    {
        Fail(verb, message);
        return CommandSupport.ExitUsage;
    }

    /// <summary>Opens the state store of <paramref name="config"/> for reading; a sqlite file that does not exist is an error, not a new empty trail.</summary>
    public static async Task<IStateStore?> OpenAsync(GatewayConfig config, string verb)
    {
        if (config.State.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase) && !File.Exists(config.State["sqlite:".Length..]))
        {
            Fail(verb, $"state: {config.State} does not exist (has the gateway run with this config?)");
            return null;
        }

        var opened = StateStore.Open(config.State, new StateStoreOptions { Durability = config.Audit.Durability });
        if (!opened.Success)
        {
            Fail(verb, opened.Error);
            return null;
        }

        await RecoverJournalsAsync(config, opened.Store, verb);
        return opened.Store;
    }

    /// <summary>
    /// What a crashed gateway left in its journal (on this machine's state directory) goes into the store first, so
    /// the verbs read the whole trail. A failure is a note, not an error: reading what is stored still works.
    /// </summary>
    private static async Task RecoverJournalsAsync(GatewayConfig config, IStateStore store, string verb)
    {
        if (!config.Audit.Enabled || !Directory.Exists(Path.Combine(config.StateDirectory, AuditJournal.DirectoryName)))
        {
            return;
        }

        try
        {
            foreach (var recovered in await AuditJournalRecovery.RecoverAsync(config.StateDirectory, store.Audit, Hosting.AuditHosting.LoadKey(config), CancellationToken.None))
            {
                await Console.Error.WriteLineAsync(
                    $"gatehouse: {verb}: recovered the journal of chain {Visible(recovered.Chain)} (a gateway that did not stop cleanly): " +
                    $"{recovered.Stored} records stored, {recovered.AlreadyStored} already stored, {recovered.Discarded} discarded as torn");
            }
        }
        catch (Exception ex) when (ex is AuditKeyException or System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"gatehouse: {verb}: note: journals of crashed gateways were not recovered: {Visible(ex.Message)}");
        }
    }

    /// <summary>ISO-8601 (a time without offset is UTC), or a duration back from now such as 30m, 2h, 7d.</summary>
    public static bool TryParseTime(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        if (Duration.TryParse(text, out var ago) && ago > TimeSpan.Zero)
        {
            time = now - ago;
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }

    /// <summary>Reads --since/--until; on a bad value writes the error and returns false.</summary>
    public static bool ReadTime(string verb, string option, string? text, out DateTimeOffset? time)
    {
        time = null;
        if (text is null)
        {
            return true;
        }

        if (!TryParseTime(text, DateTimeOffset.UtcNow, out var parsed))
        {
            Fail(verb, $"{option} \"{text}\" is not a time: use ISO-8601 (2026-12-01T09:00:00Z) or a duration back from now (30m, 2h, 7d)");
            return false;
        }

        time = parsed;
        return true;
    }

    /// <summary>
    /// The text with every control character (C0, DEL, C1) and every bidirectional override shown as \xNN or \uNNNN,
    /// so an ANSI escape or a fake newline in a statement cannot rewrite the terminal. (A backslash is not doubled:
    /// SQL reads as written, and a literal "\x1B" only looks like the escape it names.)
    /// </summary>
    public static string Visible(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        StringBuilder? built = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            string? shown = c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when c < 0x20 || c is >= '\u007f' and <= '\u009f' => $"\\x{(int)c:X2}",
                _ when c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069' or '\u200e' or '\u200f' or '\u061c' => $"\\u{(int)c:X4}",
                _ => null,
            };
            if (shown is null)
            {
                built?.Append(c);
                continue;
            }

            built ??= new StringBuilder(text.Length + 16).Append(text, 0, i);
            built.Append(shown);
        }

        return built?.ToString() ?? text;
    }

    /// <summary>Untrusted text as a table cell: made visible, never read as markup.</summary>
    public static Text Cell(string? text, Style? style = null) => new(Visible(text), style ?? Style.Plain);

    /// <summary>The console for tables: wide enough for SQL when output goes to a file or a pipe.</summary>
    public static IAnsiConsole Terminal()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Out) });
        if (System.Console.IsOutputRedirected)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
