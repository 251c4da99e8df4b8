using Orleans.Connections.Security;
using Orleans.Hosting;

namespace Chat;

/// <summary>
/// Mutual TLS on every Orleans connection: silo to silo, and gateway (Orleans client) to silo. The one place where both
/// ends are configured, so a silo and a gateway always agree on what a member is.
/// </summary>
public static class ClusterTls
{
    /// <summary>The silo side: its silo-to-silo connections both ways, and the connections Orleans clients open to it.</summary>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, ClusterCredentials credentials) =>
        silo.UseTls(options => Configure(options, credentials));

    /// <summary>The Orleans client side (a standalone gateway): its connections to the silos.</summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder client, ClusterCredentials credentials) =>
        client.UseTls(options => Configure(options, credentials));

    private static void Configure(TlsOptions options, ClusterCredentials credentials)
    {
        options.LocalCertificate = credentials.Certificate;
        // Both ends present a certificate and both check the other's: a server (silo) refuses a client without one, and
        // a client refuses to run without one of its own rather than connect unauthenticated.
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // The policy errors SslStream reports are expected (our anchor is in no OS store; silos are reached by address,
        // not by a name in the certificate); membership is decided by the chain to the cluster's own anchor instead.
        options.RemoteCertificateValidation = (certificate, chain, _) => credentials.Trusts(certificate, chain);
    }
}
