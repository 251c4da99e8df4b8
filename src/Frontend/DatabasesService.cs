using Chat.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend;

/// <summary>The <c>chat.v1.Databases</c> service: publish, delete and list databases.</summary>
public sealed class DatabasesService(IGrainFactory grains, Authentication authentication, ILogger<DatabasesService> logger)
    : Api.V1.Databases.DatabasesBase
{
    public override async Task<PublishResponse> Publish(PublishRequest request, ServerCallContext context)
    {
        var owner = await authentication.RequireAsync(context);
        var name = Authentication.RequireDatabaseName(request.Database);
        var published = await grains.GetDatabaseGrain(name).Publish(owner, request.Clear, ToSettings(request.Settings));
        published.Result.OrThrow();
        logger.DatabasePublished(name, owner, published.Created, request.Clear);
        return new PublishResponse { Database = ToInfo(published.Database!), Created = published.Created };
    }

    public override async Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context)
    {
        var caller = await authentication.RequireAsync(context);
        var name = Authentication.RequireDatabaseName(request.Database);
        (await grains.GetDatabaseGrain(name).Delete(caller)).OrThrow();
        logger.DatabaseDeleted(name, caller);
        return new DeleteResponse();
    }

    public override async Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        await authentication.RequireAsync(context);
        var response = new ListResponse();
        foreach (var database in await grains.GetGrain<IDatabaseCatalogGrain>(0).List())
            response.Databases.Add(new DatabaseInfo
            {
                Name = database.Name,
                OwnerIdentity = database.Owner.ToString(),
                CreatedAt = Timestamp.FromDateTime(database.CreatedAt),
            });
        return response;
    }

    public override async Task<DescribeResponse> Describe(DescribeRequest request, ServerCallContext context)
    {
        await authentication.RequireAsync(context);
        var name = Authentication.RequireDatabaseName(request.Database);
        var database = await grains.GetDatabaseGrain(name).Describe()
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Database '{name}' does not exist."));
        var response = new DescribeResponse { Database = ToInfo(database) };
        foreach (var table in Chat.Sql.SqlCatalog.Tables)
        {
            var described = new TableDescription { Name = table.Name, PrimaryKey = table.PrimaryKey };
            described.Columns.AddRange(table.Columns.Select(c => new ColumnDescription { Name = c.Name, Type = ProtoType(c.Type), Nullable = c.Nullable }));
            response.Tables.Add(described);
        }
        response.Reducers.AddRange(ReducerCatalog.Descriptions);
        return response;
    }

    private static Api.V1.SqlType ProtoType(Chat.SqlType type) => type switch
    {
        Chat.SqlType.Identity => Api.V1.SqlType.Identity,
        Chat.SqlType.String => Api.V1.SqlType.String,
        Chat.SqlType.Bool => Api.V1.SqlType.Bool,
        Chat.SqlType.Timestamp => Api.V1.SqlType.Timestamp,
        Chat.SqlType.U64 => Api.V1.SqlType.U64,
        _ => Api.V1.SqlType.Unspecified,
    };

    /// <summary>Only the fields the request carries (proto3 presence): a publish that names one setting leaves the others as they are.</summary>
    private static SettingsChange? ToSettings(DatabaseSettings? settings)
    {
        if (settings is null) return null;
        return new SettingsChange
        {
            MaxNameLength = settings.HasMaxNameLength ? Clamp(settings.MaxNameLength) : null,
            MaxMessageLength = settings.HasMaxMessageLength ? Clamp(settings.MaxMessageLength) : null,
            UniqueNames = settings.HasUniqueNames ? settings.UniqueNames : null,
            RequireNameToSend = settings.HasRequireNameToSend ? settings.RequireNameToSend : null,
            MessagesPerSecond = settings.HasMessagesPerSecond ? settings.MessagesPerSecond : null,
            MessageBurst = settings.HasMessageBurst ? Clamp(settings.MessageBurst) : null,
            DatabaseMessagesPerSecond = settings.HasDatabaseMessagesPerSecond ? settings.DatabaseMessagesPerSecond : null,
            DatabaseMessageBurst = settings.HasDatabaseMessageBurst ? Clamp(settings.DatabaseMessageBurst) : null,
        };
    }

    private static int Clamp(uint value) => (int)Math.Min(value, int.MaxValue);

    private static DatabaseInfo ToInfo(DatabaseDescriptor database) => new()
    {
        Name = database.Name,
        OwnerIdentity = database.Owner.ToString(),
        CreatedAt = Timestamp.FromDateTime(database.CreatedAt),
        Settings = new DatabaseSettings
        {
            MaxNameLength = (uint)database.Settings.MaxNameLength,
            MaxMessageLength = (uint)database.Settings.MaxMessageLength,
            UniqueNames = database.Settings.UniqueNames,
            RequireNameToSend = database.Settings.RequireNameToSend,
            MessagesPerSecond = database.Settings.MessagesPerSecond,
            MessageBurst = (uint)database.Settings.MessageBurst,
            DatabaseMessagesPerSecond = database.Settings.DatabaseMessagesPerSecond,
            DatabaseMessageBurst = (uint)database.Settings.DatabaseMessageBurst,
        },
    };
}
