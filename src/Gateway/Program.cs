// The gRPC gateway arrives with its own issue; until then it only says that it is not there yet.
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/healthz", () => Results.Text("ok"));
app.MapGet("/", () => Results.Text("Chat gateway: the gRPC API is not implemented yet; run the silo with `dotnet run --project src/Silo`."));
app.Run();
