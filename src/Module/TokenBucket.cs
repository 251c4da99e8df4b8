namespace Chat;

/// <summary>A token bucket (per identity, per database, per client address): refills continuously, holds at most the burst.</summary>
public struct TokenBucket
{
    private double _tokens;
    private DateTime _updated;
    private bool _started;

    public bool TryTake(DateTime now, double perSecond, int burst)
    {
        if (!_started)
        {
            (_tokens, _updated, _started) = (burst, now, true);
        }
        else if (now > _updated)
        {
            _tokens = Math.Min(burst, _tokens + (now - _updated).TotalSeconds * perSecond);
            _updated = now;
        }
        if (_tokens < 1)
            return false;
        _tokens -= 1;
        return true;
    }

    /// <summary>Gives back a token taken for a message whose commit then failed.</summary>
    public void Refund(int burst) => _tokens = Math.Min(burst, _tokens + 1);

    /// <summary>True when the bucket is full again, so forgetting it changes nothing.</summary>
    public readonly bool IsFullAt(DateTime now, double perSecond, int burst) =>
        !_started || _tokens + (now - _updated).TotalSeconds * perSecond >= burst;
}
