# syntax=docker/dockerfile:1
# The standalone gRPC gateway (src/Frontend.Host, Chat.Frontend.Host.dll): an Orleans client of the silos,
# found through the membership table in PostgreSQL. Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t chat-gateway:local .
# See deploy/README.md.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files alone, so that the package layer is reused until a
# .csproj or the central package versions change.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Api/Api.csproj                               src/Api/
COPY src/Module/Module.csproj                         src/Module/
COPY src/Grains.Interfaces/Grains.Interfaces.csproj   src/Grains.Interfaces/
COPY src/Development/Development.csproj               src/Development/
COPY src/Sql/Sql.csproj                               src/Sql/
COPY src/Frontend.Delivery/Frontend.Delivery.csproj   src/Frontend.Delivery/
COPY src/Frontend/Frontend.csproj                     src/Frontend/
COPY src/Frontend.Host/Frontend.Host.csproj           src/Frontend.Host/
RUN dotnet restore src/Frontend.Host/Frontend.Host.csproj

# Then the sources (the proto is compiled by src/Api).
COPY proto/ proto/
COPY src/ src/
RUN dotnet publish src/Frontend.Host -c Release -o /app --no-restore -p:UseAppHost=false

# Runtime: ASP.NET Core only, no SDK, not root.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./

# Listen where a container can be reached (appsettings.json binds loopback, which suits a developer
# machine); the Kubernetes manifests set these too. gRPC (HTTP/2 only, cleartext) and HTTP/1.
ENV Kestrel__Endpoints__Grpc__Url=http://0.0.0.0:50051 \
    Kestrel__Endpoints__Grpc__Protocols=Http2 \
    Kestrel__Endpoints__Http__Url=http://0.0.0.0:8080 \
    Kestrel__Endpoints__Http__Protocols=Http1
EXPOSE 50051 8080

# The aspnet image's non-root "app" user (UID 1654, $APP_UID). Numeric, so that Kubernetes'
# runAsNonRoot can verify it without a runAsUser.
USER $APP_UID
ENTRYPOINT ["dotnet", "Chat.Frontend.Host.dll"]
