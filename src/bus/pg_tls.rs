//! TLS to a PostgreSQL bus: libpq's `sslmode` and `sslrootcert` URL
//! parameters, over rustls with ring as its crypto provider (no system
//! OpenSSL needed to build or run).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default, as libpq's) | when the server offers it, else plain | not checked |
//! | `require` | always | not checked; with `sslrootcert`, its chain (libpq does the same) |
//! | `verify-ca` | always | its chain, up to a CA of `sslrootcert` or of the system |
//! | `verify-full` | always | its chain, and that it names the URL's host |
//!
//! `sslrootcert=PATH` names a PEM file of CA certificates; without it, or
//! with `sslrootcert=system` (PostgreSQL 16's spelling), the CAs the system
//! trusts (rustls-native-certs: OpenSSL's files, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`). Unlike libpq, `~/.postgresql/root.crt` is not read.
//! A Unix-socket host never uses TLS (the server offers none there; libpq
//! ignores `sslmode` for sockets too).
//!
//! `sslcert=PATH` and `sslkey=PATH` (both or neither) name a client
//! certificate and its key, presented when the server asks for one
//! (`pg_hba.conf`'s `cert` method, or `clientcert=verify-ca|verify-full`):
//! see [`client_cert`]. Unlike libpq, `~/.postgresql/postgresql.crt` is not
//! read.
//!
//! `prefer` falls back to a plain connection when the TLS handshake fails
//! (the server's TLS is one rustls cannot speak, e.g. TLSv1.1 only), as
//! libpq does; the other modes fail.
//!
//! The host name checked by `verify-full` is the URL's host (an IP address
//! is checked against the certificate's IP addresses); `hostaddr=` only
//! says where to connect, as in libpq.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use postgres::Client;
use postgres::config::SslMode as ClientMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::store::StoreError;

mod client_cert;

use client_cert::ClientCert;

/// libpq's `sslmode` values that intercomm implements (`allow` is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The URL spelling, e.g. `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow is not supported: use prefer (TLS when offered) or disable"
                        .to_owned(),
                );
            }
            other => {
                return Err(format!(
                    "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bus URL's TLS settings: its `sslmode`, `sslrootcert`, and `sslcert`
/// with `sslkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    mode: SslMode,
    /// The CA file; `None` for the system's CAs.
    root_cert: Option<PathBuf>,
    /// The client certificate to present, if any.
    client: Option<ClientCert>,
}

/// `value` of URL parameter `key` as a path: absolute (workers and hooks
/// start in other folders) and not empty.
fn absolute(key: &str, value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err(format!("{key}= names no file"));
    }
    if !value.starts_with('/') {
        return Err(format!(
            "{key}={value} is a relative path: give it from / (workers and hooks start in other \
             folders)"
        ));
    }
    Ok(PathBuf::from(value))
}

/// How far the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    ChainAndHost,
}

impl TlsSettings {
    /// From the URL's `sslmode` (default `prefer`) and `sslrootcert`
    /// values, percent-decoded already; the error names the bad value.
    pub fn new(mode: Option<&str>, root_cert: Option<&str>) -> Result<Self, String> {
        let mode = match mode {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        let root_cert = match root_cert {
            None | Some("system") => None,
            Some(path) => Some(absolute("sslrootcert", path)?),
        };
        Ok(Self {
            mode,
            root_cert,
            client: None,
        })
    }

    /// With the URL's `sslcert` and `sslkey` values (percent-decoded): both
    /// or neither, absolute paths; the files are read at each connect.
    pub fn with_client_cert(self, cert: Option<&str>, key: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            client: ClientCert::new(cert, key)?,
            ..self
        })
    }

    /// The client certificate file (`sslcert`), when the URL names one.
    pub fn client_cert(&self) -> Option<&std::path::Path> {
        self.client.as_ref().map(ClientCert::cert_path)
    }

    /// The `sslmode` asked for.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Whether the server's certificate must name the URL's host
    /// (`verify-full`).
    pub fn verifies_host(&self) -> bool {
        self.check() == Check::ChainAndHost
    }

    /// The mode the client negotiates with: the `verify-*` modes require TLS
    /// and add their checks in the certificate verifier.
    pub(super) fn client_mode(&self) -> ClientMode {
        match self.mode {
            SslMode::Disable => ClientMode::Disable,
            SslMode::Prefer => ClientMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => ClientMode::Require,
        }
    }

    fn check(&self) -> Check {
        match self.mode {
            SslMode::Disable | SslMode::Prefer => Check::None,
            SslMode::Require if self.root_cert.is_none() => Check::None,
            SslMode::Require | SslMode::VerifyCa => Check::Chain,
            SslMode::VerifyFull => Check::ChainAndHost,
        }
    }

    /// Where the trusted CAs come from, for messages.
    fn roots_named(&self) -> String {
        match &self.root_cert {
            Some(path) => format!("the CA in {}", path.display()),
            None => "a CA this system trusts".to_owned(),
        }
    }

    /// Connects with `config` (whose `ssl_mode` says whether TLS is tried:
    /// [`Self::client_mode`], or `disable` for a socket). A TLS failure is
    /// told as what failed: the certificate's CA, its host name, its dates,
    /// or a server without TLS. With `prefer`, a failed TLS handshake is
    /// followed by a plain connection (libpq's "retry without SSL").
    pub(super) fn connect(&self, config: &postgres::Config) -> Result<Client, StoreError> {
        let mode = config.get_ssl_mode();
        if mode == ClientMode::Disable {
            return config.connect(postgres::NoTls).map_err(|e| self.explain(e));
        }
        match config.connect(MakeRustlsConnect::new(self.client_config()?)) {
            Ok(client) => Ok(client),
            Err(e) if mode == ClientMode::Prefer && handshake_failed(&e) => {
                tracing::warn!(
                    target: "bus",
                    err = %self.explain(e),
                    "sslmode=prefer: the TLS handshake failed; connecting without TLS"
                );
                let mut plain = config.clone();
                plain.ssl_mode(ClientMode::Disable);
                plain.connect(postgres::NoTls).map_err(|e| self.explain(e))
            }
            Err(e) => Err(self.explain(e)),
        }
    }

    fn client_config(&self) -> Result<ClientConfig, StoreError> {
        // ring, not aws-lc-rs: no C library of its own to build for
        // `cargo install`. rustls 0.23.48 deprecates it for lacking
        // post-quantum key exchange, which a PostgreSQL server built on
        // OpenSSL before 3.5 (Debian 12's 3.0, for one) does not offer.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::None => Arc::new(Verifier {
                roots: None,
                algorithms: provider.signature_verification_algorithms,
            }),
            Check::Chain => Arc::new(Verifier {
                roots: Some(Arc::new(self.roots()?)),
                algorithms: provider.signature_verification_algorithms,
            }),
            Check::ChainAndHost => WebPkiServerVerifier::builder_with_provider(
                Arc::new(self.roots()?),
                provider.clone(),
            )
            .build()
            .map_err(|e| StoreError::Pg(format!("cannot check the bus server: {e}")))?,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Pg(format!("no TLS version to offer: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let Some(client) = &self.client else {
            return Ok(builder.with_no_client_auth());
        };
        client.present(builder).map_err(StoreError::Pg)
    }

    /// The trusted CAs: every certificate of `sslrootcert`, or the system's.
    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut store = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| StoreError::Pg(format!("cannot read sslrootcert {shown}: {e}")))?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        StoreError::Pg(format!("sslrootcert {shown} is not PEM: {e}"))
                    })?;
                    store.add(cert).map_err(|e| {
                        StoreError::Pg(format!("sslrootcert {shown} holds a bad certificate: {e}"))
                    })?;
                }
                if store.is_empty() {
                    return Err(StoreError::Pg(format!(
                        "sslrootcert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                    return Err(StoreError::Pg(format!(
                        "sslmode={} found no CA certificate on this system ({}): name the bus's CA \
                         with sslrootcert=PATH",
                        self.mode,
                        if why.is_empty() {
                            "none installed".to_owned()
                        } else {
                            why.join("; ")
                        }
                    )));
                }
            }
        }
        Ok(store)
    }

    /// A connect error, told as what failed when TLS did, or when the
    /// server wanted a client certificate.
    fn explain(&self, e: postgres::Error) -> StoreError {
        if let Some(text) = self.tls_failure(&e).or_else(|| self.cert_refused(&e)) {
            return StoreError::Pg(text);
        }
        StoreError::from(e)
    }

    /// The server's refusal of a connection without a client certificate,
    /// or of the one presented (PostgreSQL 15's messages for `pg_hba.conf`'s
    /// `cert` method and `clientcert=`).
    fn cert_refused(&self, e: &postgres::Error) -> Option<String> {
        let db = e.as_db_error()?;
        let said = db.message();
        if said.contains("requires a valid client certificate") {
            return Some(match self.client_cert() {
                None => format!(
                    "the bus server requires a client certificate and the URL names none \
                     (server: {said}): add sslcert=PATH&sslkey=PATH"
                ),
                Some(cert) => format!(
                    "the bus server did not take the client certificate in sslcert {} \
                     (server: {said})",
                    cert.display()
                ),
            });
        }
        let cert = self.client_cert()?;
        said.contains("certificate authentication failed").then(|| {
            format!(
                "the bus server refused the client certificate in sslcert {} (server: {said}): \
                 its CN must be the user's name, or map it in pg_ident.conf",
                cert.display()
            )
        })
    }

    fn tls_failure(&self, e: &postgres::Error) -> Option<String> {
        let mut cause: Option<&(dyn StdError + 'static)> = e.source();
        while let Some(err) = cause {
            if let Some(tls) = rustls_error(err) {
                return Some(self.describe(tls));
            }
            if err.to_string() == "server does not support TLS" {
                return Some(format!(
                    "the bus server does not accept TLS connections (sslmode={}): turn ssl on in \
                     its postgresql.conf, or reach it through a trusted network with sslmode=prefer",
                    self.mode
                ));
            }
            cause = err.source();
        }
        None
    }

    fn describe(&self, e: &rustls::Error) -> String {
        let mode = self.mode;
        let rustls::Error::InvalidCertificate(cert) = e else {
            if let (rustls::Error::AlertReceived(alert), Some(client)) = (e, self.client_cert())
                && about_a_certificate(*alert)
            {
                return format!(
                    "the TLS handshake with the bus server failed (sslmode={mode}): it refused \
                     the client certificate in sslcert {} ({alert:?}): is it signed by a CA of \
                     the server's ssl_ca_file, and valid now?",
                    client.display()
                );
            }
            return format!("the TLS handshake with the bus server failed (sslmode={mode}): {e}");
        };
        match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the bus server's certificate is not signed by {} (sslmode={mode}){}",
                self.roots_named(),
                if self.root_cert.is_none() {
                    ": name the bus's CA with sslrootcert=PATH"
                } else {
                    ""
                }
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "the bus server's certificate does not match host {} (it names {}; sslmode={mode} \
                 checks the host name, verify-ca only the chain)",
                expected.to_str(),
                if presented.is_empty() {
                    "no host".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|n| bare_name(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            CertificateError::NotValidForName => format!(
                "the bus server's certificate does not match the URL's host (sslmode={mode})"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the bus server's certificate has expired (sslmode={mode})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the bus server's certificate is not valid yet (sslmode={mode})")
            }
            other => format!("the bus server's certificate was refused (sslmode={mode}): {other}"),
        }
    }
}

/// Whether a TLS alert the server sent is about the certificate the client
/// presented (RFC 8446, 6.2).
fn about_a_certificate(alert: rustls::AlertDescription) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        alert,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::CertificateRequired
            | A::UnknownCA
            | A::DecryptError
    )
}

/// Whether `e` is a failed TLS handshake (a rustls error in its causes).
fn handshake_failed(e: &postgres::Error) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(err) = cause {
        if rustls_error(err).is_some() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A name as webpki presents it (`DnsName("db.example")`,
/// `IpAddress(10.0.0.5)`), without its wrapper.
fn bare_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// The rustls error inside `err`: tokio-rustls wraps it in an `io::Error`,
/// whose `source()` skips it, so the wrapper is opened by hand.
fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    err.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The certificate check of `require` and `verify-ca`: the chain up to
/// `roots` when given, never the host name; the handshake's signatures
/// always (so the peer holds the certificate's key).
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("chain", &self.roots.is_some())
            .finish()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_values_map_to_checks() -> Result<(), String> {
        let check = |m: Option<&str>, root: Option<&str>| -> Result<Check, String> {
            Ok(TlsSettings::new(m, root)?.check())
        };
        assert_eq!(check(None, None)?, Check::None);
        assert_eq!(check(Some("disable"), Some("/ca.pem"))?, Check::None);
        assert_eq!(check(Some("require"), None)?, Check::None);
        assert_eq!(check(Some("require"), Some("/ca.pem"))?, Check::Chain);
        assert_eq!(check(Some("verify-ca"), None)?, Check::Chain);
        assert_eq!(
            check(Some("verify-full"), Some("system"))?,
            Check::ChainAndHost
        );
        let full = TlsSettings::new(Some("verify-full"), Some("/ca.pem"))?;
        assert!(full.verifies_host());
        assert_eq!(full.client_mode(), ClientMode::Require);
        assert_eq!(
            TlsSettings::new(None, None)?.client_mode(),
            ClientMode::Prefer
        );
        Ok(())
    }

    #[test]
    fn bad_tls_settings_say_what_is_wrong() {
        let err =
            |m: Option<&str>, r: Option<&str>| TlsSettings::new(m, r).err().unwrap_or_default();
        assert!(err(Some("allow"), None).contains("sslmode=allow is not supported"));
        assert!(err(Some("verify_full"), None).contains("sslmode=\"verify_full\" is not one of"));
        assert!(err(Some("require"), Some("")).contains("sslrootcert= names no file"));
        assert!(err(Some("verify-ca"), Some("ca.pem")).contains("ca.pem is a relative path"));
    }

    #[test]
    fn presented_names_lose_their_wrapper() {
        assert_eq!(bare_name("DnsName(\"db.example\")"), "db.example");
        assert_eq!(bare_name("IpAddress(10.0.0.5)"), "10.0.0.5");
        assert_eq!(bare_name("URI(x)"), "URI(x)");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("nope.pem");
        let tls = TlsSettings::new(Some("verify-full"), missing.to_str())?;
        let text = tls.roots().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("cannot read sslrootcert"), "{text}");
        assert!(text.contains("nope.pem"), "{text}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n")?;
        let tls = TlsSettings::new(Some("verify-ca"), empty.to_str())?;
        let text = tls.roots().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("holds no PEM certificate"), "{text}");
        Ok(())
    }
}
