using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Which startup parameters a client may pass to the server. An allow-list: a setting the list does not
/// know might change who the session is (role, session_authorization) or open a side door (replication).
/// </summary>
public static class StartupParameterFilter
{
    /// <summary>Settings a client may choose at startup, directly or through <c>options=-c name=value</c>.</summary>
    private static readonly HashSet<string> AllowedSettings = new(StringComparer.OrdinalIgnoreCase)
    {
        "application_name", "client_encoding", "datestyle", "timezone", "intervalstyle", "search_path",
        "extra_float_digits", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
        "idle_session_timeout", "default_transaction_isolation", "default_transaction_read_only",
        "default_transaction_deferrable", "bytea_output", "client_min_messages",
        "lc_messages", "lc_monetary", "lc_numeric", "lc_time", "work_mem", "geqo", "jit", "enable_seqscan",
        "enable_indexscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin", "enable_nestloop",
        "random_page_cost", "cursor_tuple_fraction", "default_statistics_target", "timezone_abbreviations",
        "gin_fuzzy_search_limit", "xmloption", "row_security", "array_nulls", "quote_all_identifiers",
    };

    /// <summary>Parameters that describe the connection rather than set anything; Gatehouse handles them itself.</summary>
    private static readonly HashSet<string> ConnectionKeys = new(StringComparer.Ordinal) { "user", "database" };

    /// <summary>Returns the parameters to send upstream, or the reason the startup is refused.</summary>
    public static (List<KeyValuePair<string, string>>? Forward, string? Refusal) Filter(StartupParameters parameters)
    {
        var forward = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in parameters.Items)
        {
            if (ConnectionKeys.Contains(key) || key.StartsWith("_pq_.", StringComparison.Ordinal))
            {
                continue; // protocol extensions are not negotiated: the server never sees them
            }

            if (key == "replication")
            {
                if (value is "false" or "off" or "no" or "0")
                {
                    continue;
                }

                return (null, "replication connections are not allowed");
            }

            if (key == "options")
            {
                var options = ParseOptions(value, out var optionsError);
                if (options is null)
                {
                    return (null, optionsError);
                }

                foreach (var (name, setting) in options)
                {
                    if (!AllowedSettings.Contains(name))
                    {
                        return (null, $"setting \"{name}\" may not be chosen in startup options");
                    }

                    if (SettingGuard.Check(name, setting) is { } problem)
                    {
                        return (null, problem);
                    }
                }

                forward.Add(new(key, value));
                continue;
            }

            if (!AllowedSettings.Contains(key))
            {
                return (null, $"startup parameter \"{key}\" is not allowed");
            }

            if (SettingGuard.Check(key, value) is { } settingProblem)
            {
                return (null, settingProblem);
            }

            forward.Add(new(key, value));
        }

        return (forward, null);
    }

    /// <summary>Parses the command-line style <c>options</c> value the way the server does: -c name=value, --name=value, backslash escapes.</summary>
    public static List<KeyValuePair<string, string>>? ParseOptions(string value, out string? error)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        bool escaped = false, inWord = false;
        foreach (char c in value)
        {
            if (escaped)
            {
                current.Append(c);
                escaped = false;
            }
            else if (c == '\\')
            {
                escaped = inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }

        if (inWord)
        {
            words.Add(current.ToString());
        }

        var settings = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < words.Count; i++)
        {
            string word = words[i];
            string? setting = null;
            if (word == "-c" && i + 1 < words.Count)
            {
                setting = words[++i];
            }
            else if (word.StartsWith("-c", StringComparison.Ordinal) && word.Length > 2)
            {
                setting = word[2..];
            }
            else if (word.StartsWith("--", StringComparison.Ordinal))
            {
                setting = word[2..];
            }

            int equals = setting?.IndexOf('=', StringComparison.Ordinal) ?? -1;
            if (setting is null || equals <= 0)
            {
                error = $"startup option \"{word}\" is not allowed; only -c name=value settings are";
                return null;
            }

            settings.Add(new(setting[..equals].Replace('-', '_'), setting[(equals + 1)..]));
        }

        error = null;
        return settings;
    }
}
