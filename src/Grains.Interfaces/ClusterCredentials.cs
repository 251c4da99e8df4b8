using System.Data.Common;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace Chat;

/// <summary>
/// Where the cluster certificate comes from: the <c>Chat:Cluster</c> section (<c>Chat__Cluster__Certificate</c>, ...).
/// Every silo and standalone gateway of one cluster presents it (or a certificate issued by <see cref="CaCertificate"/>)
/// on every Orleans connection and accepts only peers that do the same.
/// </summary>
public sealed class ClusterCertificateOptions
{
    /// <summary>The certificate (with its private key): a PEM file (certificate, and the key too unless <see cref="CertificateKey"/> is set) or a PKCS#12 file (.pfx, .p12).</summary>
    public string? Certificate { get; set; }

    /// <summary>The PEM private key of <see cref="Certificate"/>, when it is a file of its own (Kubernetes' tls.key).</summary>
    public string? CertificateKey { get; set; }

    /// <summary>The password of a PKCS#12 file or of an encrypted PEM key.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// PEM file of the certificate authority that issued every member's certificate (Kubernetes' ca.crt). Unset: one
    /// shared cluster certificate, and a peer must present exactly it.
    /// </summary>
    public string? CaCertificate { get; set; }
}

/// <summary>
/// The credential that makes a process a member of the Orleans cluster: the certificate it presents, and the trust
/// anchor a peer's certificate must chain to. Holding the PostgreSQL connection string is not enough to join: the
/// membership table only says where the silos are, and they refuse any connection without this credential.
/// </summary>
public sealed class ClusterCredentials
{
    public const string Section = "Chat:Cluster";

    /// <summary>The file the local stack generates its cluster certificate into, under the data folder.</summary>
    public static string LocalFile(string dataDirectory) => Path.Combine(dataDirectory, "cluster", "cluster.pem");

    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private ClusterCredentials(X509Certificate2 certificate, X509Certificate2Collection anchors, string origin)
    {
        (Certificate, TrustAnchors, Origin) = (certificate, anchors, origin);
        Check();
    }

    /// <summary>What this process presents: the certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>What a peer's certificate must chain to: the cluster CA, or the shared cluster certificate itself.</summary>
    public X509Certificate2Collection TrustAnchors { get; }

    /// <summary>Where the certificate came from, for the start-up log.</summary>
    public string Origin { get; }

    /// <summary>
    /// The credentials a silo or gateway runs with: the configured certificate; else, when PostgreSQL is on this machine
    /// (a developer's stack), one generated once into the data folder and shared by every process using that folder;
    /// else none, and the process must not start.
    /// </summary>
    /// <exception cref="InvalidOperationException">No usable certificate, with what to do about it.</exception>
    public static ClusterCredentials Resolve(IConfiguration configuration, string connectionString, string dataDirectory)
    {
        var options = configuration.GetSection(Section).Get<ClusterCertificateOptions>() ?? new ClusterCertificateOptions();
        if (!string.IsNullOrWhiteSpace(options.Certificate))
            return Load(options);
        if (!string.IsNullOrWhiteSpace(options.CaCertificate) || !string.IsNullOrWhiteSpace(options.CertificateKey))
            throw new InvalidOperationException("Chat:Cluster:CaCertificate or Chat:Cluster:CertificateKey is set but Chat:Cluster:Certificate is not: " +
                                                "set Chat__Cluster__Certificate to the cluster certificate file.");
        if (!IsOnThisMachine(connectionString))
            throw new InvalidOperationException(
                "Chat:Cluster:Certificate is not set. A silo or gateway whose PostgreSQL is on another machine is part of a " +
                "deployment, and every member of the cluster must present the same cluster certificate (or one issued by " +
                "Chat:Cluster:CaCertificate): set Chat__Cluster__Certificate (and Chat__Cluster__CertificateKey for a separate " +
                "PEM key) on every silo and gateway. deploy/README.md shows how to create one.");
        return LoadOrCreate(LocalFile(dataDirectory));
    }

    /// <summary>The configured certificate and trust anchor.</summary>
    public static ClusterCredentials Load(ClusterCertificateOptions options)
    {
        var path = options.Certificate ?? throw new InvalidOperationException("Chat:Cluster:Certificate is not set.");
        if (!File.Exists(path))
            throw new InvalidOperationException($"Chat:Cluster:Certificate: the file {Path.GetFullPath(path)} does not exist.");
        if (options.CertificateKey is { Length: > 0 } key && !File.Exists(key))
            throw new InvalidOperationException($"Chat:Cluster:CertificateKey: the file {Path.GetFullPath(key)} does not exist.");
        X509Certificate2 certificate;
        try
        {
            certificate = Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12"
                ? X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword)
                : string.IsNullOrEmpty(options.CertificatePassword)
                    ? X509Certificate2.CreateFromPemFile(path, NullIfEmpty(options.CertificateKey))
                    : X509Certificate2.CreateFromEncryptedPemFile(path, options.CertificatePassword, NullIfEmpty(options.CertificateKey));
        }
        catch (CryptographicException e)
        {
            throw new InvalidOperationException($"Chat:Cluster:Certificate: cannot read a certificate with its private key from {path}: {e.Message}", e);
        }
        X509Certificate2Collection anchors;
        if (options.CaCertificate is { Length: > 0 } ca)
        {
            if (!File.Exists(ca))
                throw new InvalidOperationException($"Chat:Cluster:CaCertificate: the file {Path.GetFullPath(ca)} does not exist.");
            anchors = [];
            anchors.ImportFromPemFile(ca);
            if (anchors.Count == 0)
                throw new InvalidOperationException($"Chat:Cluster:CaCertificate: {ca} holds no PEM certificate.");
        }
        else
        {
            anchors = [X509CertificateLoader.LoadCertificate(certificate.RawData)];
        }
        return new ClusterCredentials(Usable(certificate), anchors, $"{path} ({certificate.Subject}, {certificate.Thumbprint})");
    }

    /// <summary>The certificate in <paramref name="file"/>, generated there first if it does not exist (readable by its owner only).</summary>
    public static ClusterCredentials LoadOrCreate(string file)
    {
        if (!File.Exists(file))
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
            if (OperatingSystem.IsWindows())
                Directory.CreateDirectory(folder);
            else
                Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var generated = CreateSelfSigned();
            var temporary = $"{file}.{Guid.NewGuid():N}.tmp";
            WritePem(temporary, generated);
            try
            {
                // Processes starting together each generate one; the first move wins and the others load it.
                File.Move(temporary, file, overwrite: false);
            }
            catch (IOException) when (File.Exists(file))
            {
                File.Delete(temporary);
            }
        }
        return Load(new ClusterCertificateOptions { Certificate = file });
    }

    /// <summary>Credentials held in memory only: for a single process (a benchmark's one silo) that no other member must trust.</summary>
    public static ClusterCredentials CreateEphemeral()
    {
        var certificate = CreateSelfSigned();
        return new ClusterCredentials(Usable(certificate), [X509CertificateLoader.LoadCertificate(certificate.RawData)], "generated in memory");
    }

    /// <summary>
    /// A self-signed cluster certificate: ECDSA P-256, usable to authenticate both ends of a connection (a silo is the
    /// client of the silos it calls and the server of those that call it), valid for ten years.
    /// </summary>
    public static X509Certificate2 CreateSelfSigned(string name = "chat-cluster")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name} {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication, ClientAuthentication], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
    }

    /// <summary>The certificate and its private key as one PEM file, created readable and writable by its owner only.</summary>
    public static void WritePem(string file, X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey() as AsymmetricAlgorithm ?? certificate.GetRSAPrivateKey()
            ?? throw new InvalidOperationException("The certificate has no ECDSA or RSA private key.");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var writer = new StreamWriter(file, System.Text.Encoding.ASCII, options);
        writer.WriteLine(certificate.ExportCertificatePem());
        writer.WriteLine(key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// Whether a peer is a member of the cluster: its certificate chains to one of our trust anchors, and to nothing
    /// else. The operating system's trusted roots play no part, and the host name does not either (silos are reached at
    /// addresses from the membership table, not at names a certificate could carry).
    /// </summary>
    public bool Trusts(X509Certificate2 remote, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(TrustAnchors);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
            foreach (var element in presented.ChainElements.Skip(1))
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (!chain.Build(remote))
            return false;
        var root = chain.ChainElements[^1].Certificate;
        return TrustAnchors.Any(anchor => anchor.RawDataMemory.Span.SequenceEqual(root.RawDataMemory.Span));
    }

    /// <summary>Refuses, at start-up and with the reason, a certificate that every peer would refuse at its first connection.</summary>
    private void Check()
    {
        if (!Certificate.HasPrivateKey)
            throw new InvalidOperationException($"The cluster certificate {Origin} has no private key: give it in the same PEM file, in Chat:Cluster:CertificateKey, or as a PKCS#12 file.");
        var now = DateTime.Now;
        if (now < Certificate.NotBefore || now > Certificate.NotAfter)
            throw new InvalidOperationException($"The cluster certificate {Origin} is valid from {Certificate.NotBefore:u} to {Certificate.NotAfter:u} only.");
        var usages = Certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToList();
        if (usages.Count > 0 && !(usages.Contains(ServerAuthentication.Value) && usages.Contains(ClientAuthentication.Value)))
            throw new InvalidOperationException($"The cluster certificate {Origin} must allow both server and client authentication (extended key usages serverAuth and clientAuth): every member is both.");
        if (!Trusts(Certificate, null))
            throw new InvalidOperationException($"The cluster certificate {Origin} is not issued by Chat:Cluster:CaCertificate, so the other members would refuse it.");
    }

    /// <summary>On Windows, SslStream cannot use a key loaded from PEM until it has been through PKCS#12; elsewhere a no-op in effect.</summary>
    private static X509Certificate2 Usable(X509Certificate2 certificate)
    {
        if (!OperatingSystem.IsWindows()) return certificate;
        using (certificate)
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Whether every host of an Npgsql connection string is this machine (loopback or a Unix socket folder).</summary>
    public static bool IsOnThisMachine(string connectionString)
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var hosts = (builder.TryGetValue("Host", out var host) || builder.TryGetValue("Server", out host)) ? host?.ToString() : null;
        if (string.IsNullOrWhiteSpace(hosts))
            return false;
        return hosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(entry =>
        {
            if (entry.StartsWith('/')) return true;
            var name = entry.StartsWith('[') ? entry[1..entry.IndexOf(']')] : entry.Split(':')[0];
            if (entry.Count(c => c == ':') > 1 && !entry.StartsWith('[')) name = entry; // a bare IPv6 address
            return name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address));
        });
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
