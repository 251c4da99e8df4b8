using Chat.Storage;
using Orleans.Concurrency;

namespace Chat.Grains;

/// <summary>Lists databases straight from the catalog table; stateless, so each silo answers locally.</summary>
[StatelessWorker]
public sealed class DatabaseCatalogGrain(DatabaseCatalogStore store) : Grain, IDatabaseCatalogGrain
{
    public async Task<IReadOnlyList<DatabaseSummary>> List() =>
        (await store.ListDatabasesAsync()).Select(d => new DatabaseSummary(d.Name, d.Owner, d.CreatedAt)).ToList();
}
