using System.Collections.Concurrent;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Keeps the two directions of a session in step when an extended-protocol Parse is refused. The client pump
/// replaces the Parse with the refusal's Parse/Bind/Execute and drops the client's messages up to Sync; the
/// server pump then removes the ParseComplete and BindComplete those injected messages cause, so the client
/// sees what PostgreSQL sends for a failed Parse: the earlier messages' results, ErrorResponse, ReadyForQuery.
/// Completions are matched to requests by counting Parse and Bind messages; every ReadyForQuery re-anchors
/// the counts, because after an error the server skips the rest of the batch without answering it.
/// </summary>
internal sealed class RefusalTracker
{
    // Written by the client pump only.
    private long _parsesSent;
    private long _bindsSent;

    // Read and written by the server pump only.
    private long _parsesCompleted;
    private long _bindsCompleted;

    private readonly ConcurrentQueue<(long Parses, long Binds)> _readyAnchors = new();
    private readonly ConcurrentQueue<(long Parse, long Bind)> _injections = new();

    /// <summary>Client side: the client's messages up to the next Sync are being dropped.</summary>
    public bool DiscardingUntilSync { get; set; }

    public void ParseSent() => _parsesSent++;

    public void BindSent() => _bindsSent++;

    /// <summary>Client side: a Sync, Query or FunctionCall went out; the server will answer with ReadyForQuery.</summary>
    public void ExpectReady() => _readyAnchors.Enqueue((_parsesSent, _bindsSent));

    /// <summary>Client side: the refusal's Parse and Bind went out in place of the client's Parse.</summary>
    public void Injected()
    {
        _parsesSent++;
        _bindsSent++;
        _injections.Enqueue((_parsesSent, _bindsSent));
    }

    /// <summary>Server side: true when this ParseComplete/BindComplete answers an injected message.</summary>
    public bool Swallow(byte code)
    {
        bool haveInjection = _injections.TryPeek(out var injection);
        if (code == (byte)BackendMessageCode.ParseComplete)
        {
            _parsesCompleted++;
            return haveInjection && injection.Parse == _parsesCompleted;
        }

        _bindsCompleted++;
        if (haveInjection && injection.Bind == _bindsCompleted)
        {
            _injections.TryDequeue(out _);
            return true;
        }

        return false;
    }

    /// <summary>Server side: a ReadyForQuery passed; everything sent before its Sync is answered or skipped.</summary>
    public void Ready()
    {
        if (_readyAnchors.TryDequeue(out var anchor))
        {
            _parsesCompleted = anchor.Parses;
            _bindsCompleted = anchor.Binds;
        }

        while (_injections.TryPeek(out var injection) && injection.Bind <= _bindsCompleted)
        {
            _injections.TryDequeue(out _);
        }
    }
}
