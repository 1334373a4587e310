using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Gatehouse.Yaml;

/// <summary>
/// Builds a <see cref="YamlNode"/> tree from YamlDotNet parser events, keeping every position.
/// Duplicate keys, aliases, complex keys and extra documents are reported, not silently resolved.
/// The one reader of Gatehouse's YAML files: gatehouse.yaml and policies.
/// </summary>
public sealed partial class YamlTreeReader
{
    private const int MaxDepth = 64;
    private readonly IParser _parser;
    private readonly string _file;
    private readonly List<YamlError> _errors;
    private readonly string _fileKind;

    private YamlTreeReader(IParser parser, string file, List<YamlError> errors, string fileKind)
    {
        _parser = parser;
        _file = file;
        _errors = errors;
        _fileKind = fileKind;
    }

    /// <summary>Reads one document; null when the text holds no document (errors say why) or is not YAML.</summary>
    /// <param name="text">The file's text.</param>
    /// <param name="file">Name used in error lines.</param>
    /// <param name="errors">Receives every problem found, with its position.</param>
    /// <param name="fileKind">Names the file in the one-document error, e.g. "a policy file".</param>
    public static YamlNode? Read(string text, string file, List<YamlError> errors, string fileKind)
    {
        var reader = new YamlTreeReader(new Parser(new StringReader(text)), file, errors, fileKind);
        try
        {
            return reader.ReadStream();
        }
        catch (YamlException ex)
        {
            errors.Add(new YamlError(file, (int)ex.Start.Line, (int)ex.Start.Column, "not valid YAML: " + StripMarks(ex.Message)));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this on some broken texts (an unclosed '[' before a "key: value" line).
            var at = reader._parser.Current?.End ?? Mark.Empty;
            errors.Add(new YamlError(file, Math.Max(1, Line(at)), Math.Max(1, Col(at)), "not valid YAML: the text cannot be read past this point (is a bracket or a quote left open?)"));
            return null;
        }
    }

    private YamlNode? ReadStream()
    {
        Expect<StreamStart>();
        if (_parser.Accept<StreamEnd>(out _))
        {
            return null;
        }

        Expect<DocumentStart>();
        var root = ReadNode(0);
        Expect<DocumentEnd>();
        if (_parser.Accept<DocumentStart>(out var second))
        {
            Error(second.Start, $"{_fileKind} holds one YAML document; found a second one");
        }

        return root;
    }

    private YamlNode ReadNode(int depth)
    {
        var current = _parser.Current ?? throw new YamlException("unexpected end of stream");
        if (depth > MaxDepth)
        {
            throw new YamlException(current.Start, current.End, $"nesting deeper than {MaxDepth} levels");
        }

        switch (current)
        {
            case Scalar scalar:
                _parser.MoveNext();
                if (!scalar.Anchor.IsEmpty)
                {
                    Error(scalar.Start, "anchors (&name) are not supported; repeat the value");
                }

                return new YamlScalar(Line(scalar.Start), Col(scalar.Start), scalar.Value, scalar.Style == ScalarStyle.Plain);
            case SequenceStart start:
                return ReadSequence(start, depth);
            case MappingStart start:
                return ReadMapping(start, depth);
            case AnchorAlias alias:
                _parser.MoveNext();
                Error(alias.Start, "aliases (*name) are not supported; repeat the value");
                return new YamlScalar(Line(alias.Start), Col(alias.Start), "", isPlain: true);
            default:
                throw new YamlException(current.Start, current.End, $"unexpected {current.GetType().Name}");
        }
    }

    private YamlSequence ReadSequence(SequenceStart start, int depth)
    {
        _parser.MoveNext();
        CheckAnchor(start.Anchor, start.Start);
        var items = new List<YamlNode>();
        while (!_parser.TryConsume<SequenceEnd>(out _))
        {
            items.Add(ReadNode(depth + 1));
        }

        return new YamlSequence(Line(start.Start), Col(start.Start), items);
    }

    private YamlMapping ReadMapping(MappingStart start, int depth)
    {
        _parser.MoveNext();
        CheckAnchor(start.Anchor, start.Start);
        var entries = new List<KeyValuePair<YamlScalar, YamlNode>>();
        var seen = new Dictionary<string, YamlScalar>(StringComparer.Ordinal);
        while (!_parser.TryConsume<MappingEnd>(out _))
        {
            var keyNode = ReadNode(depth + 1);
            var value = ReadNode(depth + 1);
            if (keyNode is not YamlScalar key)
            {
                Error(keyNode, "mapping keys must be plain strings");
                continue;
            }

            if (seen.TryGetValue(key.Value, out var first))
            {
                Error(key, $"duplicate key '{key.Value}' (first at line {first.Line}, column {first.Column})");
                continue;
            }

            seen.Add(key.Value, key);
            entries.Add(new(key, value));
        }

        return new YamlMapping(Line(start.Start), Col(start.Start), entries);
    }

    private void Expect<T>()
        where T : ParsingEvent
    {
        _ = _parser.Consume<T>();
    }

    private void CheckAnchor(AnchorName anchor, Mark at)
    {
        if (!anchor.IsEmpty)
        {
            Error(at, "anchors (&name) are not supported; repeat the value");
        }
    }

    private void Error(Mark at, string message) => _errors.Add(new YamlError(_file, Line(at), Col(at), message));

    private void Error(YamlNode at, string message) => _errors.Add(new YamlError(_file, at.Line, at.Column, message));

    private static int Line(Mark mark) => (int)mark.Line;

    private static int Col(Mark mark) => (int)mark.Column;

    /// <summary>YamlException messages start with "(Line: 1, Col: 2, Idx: 1) - (…): "; the caller prints its own position.</summary>
    private static string StripMarks(string message) => MarkPrefix().Replace(message, "");

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarkPrefix();
}
