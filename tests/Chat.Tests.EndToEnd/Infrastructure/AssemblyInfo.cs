// The stack, chaos and browser tests start PostgreSQL servers and several processes each; on a 2-core machine they
// are steadier one class at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
