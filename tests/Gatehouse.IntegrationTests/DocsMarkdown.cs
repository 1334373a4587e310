using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.IntegrationTests;

/// <summary>Just enough Markdown for the docs tests: fenced blocks with their language and section, links, heading anchors.</summary>
internal static partial class DocsMarkdown
{
    public sealed record Block(string Language, string Text, int Line, int Section, string Heading);

    /// <summary>Fenced blocks in order; <see cref="Block.Section"/> counts the `## ` headings before the block.</summary>
    public static List<Block> Blocks(string markdown)
    {
        var blocks = new List<Block>();
        string[] lines = markdown.Split('\n');
        int section = 0;
        string heading = string.Empty;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("## ", StringComparison.Ordinal))
            {
                section++;
                heading = lines[i][3..].Trim();
                continue;
            }

            if (!lines[i].StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            string language = lines[i][3..].Trim();
            int start = i + 1;
            var text = new StringBuilder();
            for (i = start; i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal); i++)
            {
                text.Append(lines[i]).Append('\n');
            }

            blocks.Add(new Block(language, text.ToString(), start + 1, section, heading));
        }

        return blocks;
    }

    /// <summary>Targets of inline links, <c>[text](target)</c>, outside fenced blocks.</summary>
    public static IEnumerable<(string Target, int Line)> Links(string markdown)
    {
        bool fenced = false;
        string[] lines = markdown.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }

            if (fenced)
            {
                continue;
            }

            foreach (Match link in LinkPattern().Matches(lines[i]))
            {
                yield return (link.Groups["target"].Value, i + 1);
            }
        }
    }

    /// <summary>GitHub's anchors for the headings of a document.</summary>
    public static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        bool fenced = false;
        foreach (string line in markdown.Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
            }
            else if (!fenced && HeadingPattern().Match(line) is { Success: true } heading)
            {
                string text = heading.Groups["text"].Value.Trim().ToLowerInvariant();
                var slug = new StringBuilder();
                foreach (char c in text)
                {
                    if (char.IsLetterOrDigit(c) || c is '-' or '_')
                    {
                        slug.Append(c);
                    }
                    else if (c == ' ')
                    {
                        slug.Append('-');
                    }
                }

                anchors.Add(slug.ToString());
            }
        }

        return anchors;
    }

    [GeneratedRegex(@"(?<!!)\[[^\]]*\]\((?<target>[^)\s]+)\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"^#{1,6} (?<text>.+)$")]
    private static partial Regex HeadingPattern();
}
