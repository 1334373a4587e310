using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// A Bind of a statement that needs review is held until a reviewer decides; the text reviewed and fingerprinted
/// says how its parameters were bound.
/// </summary>
internal sealed partial class ClientToServerPump
{
    // Parameters of a reviewed Bind are kept whole (each up to this many characters), so the approval is for exact values.
    private const int ReviewedBind = 64 * 1024;

    private bool _reviewing;

    /// <summary>Holds a Bind of a statement that needs review until a reviewer decides; null when it may run.</summary>
    private async ValueTask<Refusal?> ReviewBindAsync(StatementTicket ticket, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        if (body.Length > ReviewedBind)
        {
            return Refusals.Denied(ticket.Decision.RuleId ?? "review", $"the statement needs review, and its parameters ({body.Length} bytes) are larger than a review holds ({ReviewedBind} bytes)");
        }

        var parameters = ResultMessages.ReadBindParameters(body.Span, 2 * ReviewedBind, pipeline!.ClientText) ?? throw new ProtocolException("malformed Bind message");
        var (_, refusal) = await pipeline!.ReviewAsync(ticket, ticket.Sql + BindingNote(body.Span, ticket.DeclaredTypes, parameters.Length), parameters, ct);
        return refusal;
    }

    // How the values are bound, when not all as text of types the server infers: a binary 00000007 and the text
    // "\x00000007" read alike to a reviewer, and a declared type changes what a text means ('1' as an interval).
    // Part of the text reviewed and fingerprinted, so an approval is for the values as they were bound.
    private static string BindingNote(ReadOnlySpan<byte> bind, IReadOnlyList<int>? declared, int count)
    {
        var reader = new PayloadReader(bind);
        reader.TryReadCStringBytes(out _);
        reader.TryReadCStringBytes(out _);
        reader.TryReadInt16(out short formatCount);
        int kept = Math.Max((int)formatCount, 0);
        Span<short> formats = kept <= 64 ? stackalloc short[kept] : new short[kept];
        for (int i = 0; i < formats.Length; i++)
        {
            reader.TryReadInt16(out formats[i]);
        }

        var note = new System.Text.StringBuilder();
        for (int i = 0; i < count; i++)
        {
            short format = formatCount == 0 ? (short)0 : formatCount == 1 ? formats[0] : i < formats.Length ? formats[i] : (short)1;
            int type = declared is not null && i < declared.Count ? declared[i] : 0;
            if (format != 0 || type != 0)
            {
                note.Append(note.Length == 0 ? "\n-- parameters as bound:" : ",").Append(" $").Append(i + 1)
                    .Append(format == 0 ? " text" : format == 1 ? " binary" : $" format {format}");
                if (type != 0)
                {
                    note.Append(" of type ").Append(Gatehouse.Sql.TypeOids.Describe(type));
                }
            }
        }

        return note.ToString();
    }

    // The parameter types a Parse declared, or null when it declared none (or left them all to the server).
    private static int[]? DeclaredTypes(ReadOnlySpan<byte> declared) => ReadDeclaredTypes(declared) is { } types && types.Any(t => t != 0) ? types : null;

    // A Parse's declared parameter types as sent (0: left to the server); as many as it could read.
    private static int[] ReadDeclaredTypes(ReadOnlySpan<byte> declared)
    {
        var reader = new PayloadReader(declared);
        int count = reader.TryReadInt16(out short n) ? (ushort)n : 0;
        var types = new int[count];
        for (int i = 0; i < count; i++)
        {
            if (!reader.TryReadInt32(out types[i]))
            {
                return types[..i];
            }
        }

        return types;
    }
}
