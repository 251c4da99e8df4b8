using System.Net;

namespace Chat.Frontend.Delivery;

/// <summary>
/// Database names this gateway has seen answer, most recently used kept: a call naming one of them is free, any other
/// draws from its client address's lookup budget (<see cref="AddressLimits.TakeLookup"/>). So made-up names cost an
/// attacker its budget, and everyone else the few names they use, once.
/// </summary>
public sealed class KnownDatabases(AddressLimits addresses)
{
    /// <summary>Names kept at most (a few MB): past it the least recently used are forgotten, and cost one lookup again.</summary>
    internal const int Capacity = 50_000;

    private readonly Dictionary<string, LinkedListNode<string>> _names = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _order = new();

    /// <summary>Before a call naming <paramref name="database"/>: free if known, else one lookup from the address's budget.</summary>
    /// <exception cref="Grpc.Core.RpcException">RESOURCE_EXHAUSTED: the address has looked up too many unknown names.</exception>
    public void BeforeCall(IPAddress? peer, string database)
    {
        lock (_names)
        {
            if (_names.TryGetValue(database, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                return;
            }
        }
        addresses.TakeLookup(peer, database);
    }

    /// <summary>The database answered: it exists.</summary>
    public void Exists(string database)
    {
        lock (_names)
        {
            if (_names.ContainsKey(database)) return;
            _names[database] = _order.AddFirst(database);
            if (_names.Count <= Capacity) return;
            _names.Remove(_order.Last!.Value);
            _order.RemoveLast();
        }
    }

    /// <summary>The database said it does not exist (deleted meanwhile): calls naming it draw from the budget again.</summary>
    public void Gone(string database)
    {
        lock (_names)
            if (_names.Remove(database, out var node))
                _order.Remove(node);
    }
}
