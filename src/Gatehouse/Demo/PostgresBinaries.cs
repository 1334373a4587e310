using System.Globalization;

namespace Gatehouse.Demo;

/// <summary>
/// Where the PostgreSQL server programs (initdb, pg_ctl) of the throwaway demo cluster are found:
/// an explicit --pg-bin folder, else PATH, else the newest /usr/lib/postgresql/VERSION/bin (Debian, Ubuntu).
/// </summary>
public static class PostgresBinaries
{
    /// <summary>Replaces /usr/lib/postgresql as the folder searched for VERSION/bin/initdb (tests point it elsewhere).</summary>
    public const string SearchRootVariable = "GATEHOUSE_DEMO_PG_ROOT";

    public const string DefaultSearchRoot = "/usr/lib/postgresql";

    public const string InstallHint = "install them with `sudo apt-get install postgresql` (Debian/Ubuntu), pass --pg-bin DIR, or use an existing server with --upstream postgres://USER:PASSWORD@HOST:PORT/DATABASE";

    /// <summary>The folder holding initdb and pg_ctl, or null with a one-line explanation.</summary>
    public static string? Find(string? explicitDirectory, out string error)
    {
        error = string.Empty;
        if (explicitDirectory is not null)
        {
            if (HasTools(explicitDirectory))
            {
                return Path.GetFullPath(explicitDirectory);
            }

            error = $"initdb and pg_ctl not found in {explicitDirectory}; {InstallHint}";
            return null;
        }

        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, "initdb");
            if (!File.Exists(candidate))
            {
                continue;
            }

            // /usr/local/bin/initdb is often a symlink: use the real folder, where pg_ctl and postgres live too.
            var target = new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true);
            string real = Path.GetDirectoryName(target?.FullName ?? candidate)!;
            if (HasTools(real))
            {
                return real;
            }
        }

        string root = Environment.GetEnvironmentVariable(SearchRootVariable) is { Length: > 0 } overridden ? overridden : DefaultSearchRoot;
        if (Directory.Exists(root))
        {
            var newest = Directory.GetDirectories(root)
                .Select(d => (Directory: Path.Combine(d, "bin"), Version: double.TryParse(Path.GetFileName(d), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : -1))
                .Where(c => c.Version >= 0 && HasTools(c.Directory))
                .OrderByDescending(c => c.Version)
                .FirstOrDefault();
            if (newest.Directory is not null)
            {
                return newest.Directory;
            }
        }

        error = $"PostgreSQL server programs (initdb, pg_ctl) not found on PATH or under {root}/*/bin; {InstallHint}";
        return null;
    }

    private static bool HasTools(string directory) =>
        File.Exists(Path.Combine(directory, "initdb")) && File.Exists(Path.Combine(directory, "pg_ctl"));
}
