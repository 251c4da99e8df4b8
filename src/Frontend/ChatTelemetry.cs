using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Chat.Frontend;

/// <summary>
/// Metrics and traces for silo and gateway processes: Orleans' meters, ASP.NET Core, Npgsql and ours
/// (<see cref="ChatMetrics"/>). Prometheus scrapes <c>/metrics</c>; with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// set, metrics and traces also go to that collector (the standard OTEL_* variables configure the exporter).
/// </summary>
public static class ChatTelemetry
{
    public static IServiceCollection AddChatTelemetry(this IServiceCollection services, IConfiguration configuration, string serviceName)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(ChatMetrics.MeterName, "Microsoft.Orleans", "Npgsql")
                    .AddAspNetCoreInstrumentation()
                    .AddPrometheusExporter();
                if (otlp) metrics.AddOtlpExporter();
            });
        if (otlp)
            telemetry.WithTracing(tracing => tracing
                .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                .AddAspNetCoreInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter());
        return services;
    }

    public static IEndpointRouteBuilder MapChatMetrics(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
