using Google.Protobuf.WellKnownTypes;
using ProtoMessageRow = Chat.Api.V1.MessageRow;
using ProtoUserRow = Chat.Api.V1.UserRow;

namespace Chat.Frontend.Delivery;

/// <summary>Rows as typed protobuf messages.</summary>
public static class ProtoRows
{
    public static ProtoUserRow ToProto(this UserRow row)
    {
        var proto = new ProtoUserRow { Identity = row.Identity.ToString(), Online = row.Online };
        if (row.Name is not null) proto.Name = row.Name;
        return proto;
    }

    public static ProtoMessageRow ToProto(this MessageRow row) => new()
    {
        Sender = row.Sender.ToString(),
        Sent = Timestamp.FromDateTime(row.Sent),
        Text = row.Text,
        Offset = (ulong)row.Offset,
    };
}
