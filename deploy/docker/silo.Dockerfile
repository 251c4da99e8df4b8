# syntax=docker/dockerfile:1
# The Orleans silo (src/Silo, Chat.Silo.dll). Build from the repository root:
#   docker build -f deploy/docker/silo.Dockerfile -t chat-silo:local .
# In Kubernetes it always gets ConnectionStrings__Chat (it never starts a PostgreSQL of its own: the
# image has no PostgreSQL binaries) and runs with Chat__Gateway__Enabled=false (the gateway is its
# own Deployment). See deploy/README.md.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files alone, so that the package layer is reused until a
# .csproj or the central package versions change.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Api/Api.csproj                               src/Api/
COPY src/Module/Module.csproj                         src/Module/
COPY src/Grains.Interfaces/Grains.Interfaces.csproj   src/Grains.Interfaces/
COPY src/Storage/Storage.csproj                       src/Storage/
COPY src/Development/Development.csproj               src/Development/
COPY src/Sql/Sql.csproj                               src/Sql/
COPY src/Grains/Grains.csproj                         src/Grains/
COPY src/Frontend.Delivery/Frontend.Delivery.csproj   src/Frontend.Delivery/
COPY src/Frontend/Frontend.csproj                     src/Frontend/
COPY src/Silo/Silo.csproj                             src/Silo/
RUN dotnet restore src/Silo/Silo.csproj

# Then the sources (the proto is compiled by src/Api).
COPY proto/ proto/
COPY src/ src/
RUN dotnet publish src/Silo -c Release -o /app --no-restore -p:UseAppHost=false

# Runtime: ASP.NET Core only, no SDK, not root.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./

# Listen where a container can be reached (appsettings.json binds loopback, which suits a developer
# machine); the Kubernetes manifests set it too. Ports: silo-to-silo, Orleans client gateway, HTTP.
ENV Kestrel__Endpoints__Http__Url=http://0.0.0.0:8080
EXPOSE 11111 30000 8080

# The aspnet image's non-root "app" user (UID 1654, $APP_UID). Numeric, so that Kubernetes'
# runAsNonRoot can verify it without a runAsUser.
USER $APP_UID
ENTRYPOINT ["dotnet", "Chat.Silo.dll"]
