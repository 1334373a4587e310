namespace Gatehouse.Policy.Tools;

/// <summary><c>gatehouse policy check FILE</c>: validate a policy file, print every error.</summary>
public static class PolicyCheck
{
    public const int ExitOk = 0;
    public const int ExitInvalid = 1;

    /// <summary>
    /// Prints each error as <c>file:line:col: error: message</c> on <paramref name="stderr"/> and returns 1;
    /// or <c>ok: N identities, N grants, N rules</c> on <paramref name="stdout"/> and returns 0.
    /// </summary>
    public static int Run(string path, IReadOnlySet<string>? knownTargets, TextWriter stdout, TextWriter stderr)
    {
        var result = PolicyLoader.LoadFile(path, knownTargets);
        if (result.Snapshot is not { } snapshot)
        {
            foreach (var error in result.Errors)
            {
                stderr.WriteLine(error.ToString());
            }

            return ExitInvalid;
        }

        stdout.WriteLine(Summary(snapshot));
        return ExitOk;
    }

    public static string Summary(PolicySnapshot snapshot) =>
        $"ok: {snapshot.Identities.Count} identities, {snapshot.Grants.Count} grants, {snapshot.RuleCount} rules";
}
