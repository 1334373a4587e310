using Gatehouse.Pipeline;
using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Proxy;

/// <summary>
/// Refused messages: a Query or Parse the server gets a no-op for, and statements refused at Parse that are answered
/// as prepared (stand-ins) and refused at each Execute of their portals.
/// </summary>
internal sealed partial class ClientToServerPump
{
    // A Query or Parse too large to read is refused unread (it streams into the void); the session goes on.
    protected override bool SkipOversized(byte code, long payloadLength, int limit)
    {
        var refusal = RefusalStatement.MessageTooLarge(payloadLength, limit);
        return ledger.DiscardingUntilSync || (FrontendMessageCode)code switch
        {
            FrontendMessageCode.Query => RefuseQuery(refusal) == FrameVerdict.Replace,
            FrontendMessageCode.Parse => RefuseParse(refusal) == FrameVerdict.Replace,
            FrontendMessageCode.Bind when _refused.Count > 0 || _reviewing => RefuseParse(refusal) == FrameVerdict.Replace,
            _ => false,
        };
    }

    // Statements refused at Parse and the portals bound from them, by name: answered as the server would answer a
    // statement it may not run (prepared, described, bound), refused at each Execute. Bounded: past the cap a refusal
    // is delivered at its Parse.
    private const int MaxRefused = 1000;
    private readonly Dictionary<string, (Refusal Refusal, int[] ParameterTypes)> _refused = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Refusal> _refusedPortals = new(StringComparer.Ordinal);

    private FrameVerdict AnswerRefusedParse(string name, Refusal refusal, int[] parameterTypes)
    {
        _statements.Remove(name);
        ForgetParse(name);
        if (_refused.Count >= MaxRefused)
        {
            return RefuseParse(refusal);
        }

        _refused[name] = (refusal, parameterTypes);
        return StandIn(RefusalStatement.ParseComplete);
    }

    private FrameVerdict AnswerRefusedBind(string portal, Refusal refusal)
    {
        _portals.Remove(portal);
        if (_refusedPortals.Count >= MaxRefused && !_refusedPortals.ContainsKey(portal))
        {
            return RefuseParse(refusal);
        }

        _refusedPortals[portal] = refusal;
        return StandIn(RefusalStatement.BindComplete);
    }

    /// <summary>The server gets a no-op in place of the client's message; the client gets <paramref name="answer"/> in place of its reply.</summary>
    private FrameVerdict StandIn(byte[] answer)
    {
        ledger.Expect(new(StatementLedger.Kind.StandIn, Answer: answer));
        Replace(RefusalStatement.StandInMessage.Span);
        return FrameVerdict.Replace;
    }

    // The parameter types a refused statement is described with: those the Parse declared, text for the rest
    // (the server would infer them from a statement it never sees).
    private static int[] ParameterTypes(ReadOnlySpan<byte> declared, string sql)
    {
        const int Text = 25;
        var read = ReadDeclaredTypes(declared);
        var types = new int[Math.Max(read.Length, Placeholders.Highest(sql))];
        for (int i = 0; i < types.Length; i++)
        {
            types[i] = i < read.Length && read[i] != 0 ? read[i] : Text;
        }

        return types;
    }

    private FrameVerdict RefuseParse(Refusal refusal)
    {
        ledger.Expect(new(StatementLedger.Kind.ParseRefusal, Refusal: refusal));
        ledger.DiscardingUntilSync = true;
        Replace(RefusalStatement.ParseMessage.Span);
        return FrameVerdict.Replace;
    }

    private FrameVerdict RefuseQuery(Refusal refusal)
    {
        ledger.Expect(new(StatementLedger.Kind.QueryRefusal, Refusal: refusal));
        limits?.Sent();
        Replace(RefusalStatement.QueryMessage.Span);
        return FrameVerdict.Replace;
    }
}
