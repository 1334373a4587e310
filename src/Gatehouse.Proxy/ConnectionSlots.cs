using System.Net;

namespace Gatehouse.Proxy;

/// <summary>
/// Counts client connections in two kinds of slot, so clients that never authenticate cannot fill the gateway:
/// <code>
///  accept ──► unauthenticated slot ──token valid──► authenticated slot ──► released when the session ends
///             (at most MaxUnauthenticatedPerAddress per source address, at most MaxClientConnections − Reserved in all)
/// </code>
/// Every connection counts against <see cref="ProxyLimits.MaxClientConnections"/>. A new connection that would pass
/// a pre-authentication limit evicts the oldest connection still waiting to authenticate (from its own address when
/// the per-address limit is what is full): a real client authenticates in milliseconds, a client that holds a
/// socket open without authenticating is the oldest, so a flood cannot keep a real client out. Only when every slot
/// is held by an authenticated session is a new connection refused.
/// </summary>
public sealed class ConnectionSlots(ProxyLimits limits)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Slot> _waiting = new(); // unauthenticated, oldest first
    private readonly Dictionary<IPAddress, int> _waitingPerAddress = [];
    private int _authenticated;
    private long _evicted;
    private long _refused;

    /// <summary>Connections that have not finished authentication.</summary>
    public int Unauthenticated
    {
        get { lock (_lock) { return _waiting.Count; } }
    }

    /// <summary>Sessions past authentication.</summary>
    public int Authenticated
    {
        get { lock (_lock) { return _authenticated; } }
    }

    /// <summary>Connections closed to make room for a newer one (a pre-authentication limit was full).</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>Connections refused because every slot was held by an authenticated session.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>A slot for a new connection from <paramref name="address"/>, or null when it must be refused.</summary>
    public Slot? TryAcquire(IPAddress address)
    {
        Slot? victim = null;
        Slot slot;
        lock (_lock)
        {
            int perAddress = _waitingPerAddress.GetValueOrDefault(address);
            int unauthenticatedLimit = limits.MaxClientConnections - limits.ReservedConnections;
            if (perAddress >= limits.MaxUnauthenticatedPerAddress)
            {
                victim = Oldest(address);
            }
            else if (_waiting.Count >= unauthenticatedLimit || _waiting.Count + _authenticated >= limits.MaxClientConnections)
            {
                victim = _waiting.First?.Value;
                if (victim is null)
                {
                    Interlocked.Increment(ref _refused);
                    return null;
                }
            }

            if (victim is not null)
            {
                RemoveWaiting(victim);
                victim.Evicted = true;
                Interlocked.Increment(ref _evicted);
            }

            slot = new Slot(this, address);
            slot.Node = _waiting.AddLast(slot);
            _waitingPerAddress[address] = _waitingPerAddress.GetValueOrDefault(address) + 1;
        }

        victim?.Evict();
        return slot;
    }

    private Slot? Oldest(IPAddress address)
    {
        for (var node = _waiting.First; node is not null; node = node.Next)
        {
            if (node.Value.Address.Equals(address))
            {
                return node.Value;
            }
        }

        return null;
    }

    private void RemoveWaiting(Slot slot)
    {
        _waiting.Remove(slot.Node!);
        slot.Node = null;
        int left = _waitingPerAddress[slot.Address] - 1;
        if (left == 0)
        {
            _waitingPerAddress.Remove(slot.Address);
        }
        else
        {
            _waitingPerAddress[slot.Address] = left;
        }
    }

    /// <summary>One connection's place. Cancelled (<see cref="Evicted"/>) when a newer connection needs it before it authenticated.</summary>
    public sealed class Slot : IDisposable
    {
        private readonly ConnectionSlots _owner;
        private readonly CancellationTokenSource _eviction = new(); // no timer: nothing to dispose
        private bool _released;

        internal Slot(ConnectionSlots owner, IPAddress address)
        {
            _owner = owner;
            Address = address;
        }

        internal LinkedListNode<Slot>? Node { get; set; }

        public IPAddress Address { get; }

        /// <summary>Cancelled when the slot is taken for a newer connection.</summary>
        public CancellationToken EvictedToken => _eviction.Token;

        public bool Evicted { get; internal set; }

        public bool IsAuthenticated { get; private set; }

        internal void Evict() => _eviction.Cancel();

        /// <summary>The token was valid: the connection moves to an authenticated slot and can no longer be evicted.
        /// False when it was evicted first.</summary>
        public bool Authenticated()
        {
            lock (_owner._lock)
            {
                if (Evicted || IsAuthenticated)
                {
                    return IsAuthenticated;
                }

                _owner.RemoveWaiting(this);
                _owner._authenticated++;
                IsAuthenticated = true;
                return true;
            }
        }

        public void Dispose()
        {
            lock (_owner._lock)
            {
                if (_released)
                {
                    return;
                }

                _released = true;
                if (IsAuthenticated)
                {
                    _owner._authenticated--;
                }
                else if (!Evicted)
                {
                    _owner.RemoveWaiting(this);
                }
            }
        }
    }
}
