// Integration tests start real PostgreSQL servers and Orleans silos; on a 2-core machine they are
// steadier one class at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
