//! The client certificate a bus connection presents: libpq's `sslcert` and
//! `sslkey` URL parameters, read at each connect (both PEM; the key PKCS#8,
//! PKCS#1 or SEC1, unencrypted).
//!
//! As libpq (15, `fe-secure-openssl.c`), a key file that group or others
//! may read is refused: a file owned by root may be `0640` at most, any
//! other `0600`. Unlike libpq, `~/.postgresql/postgresql.crt` and
//! `postgresql.key` are not read: a certificate is presented only when the
//! URL names it.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::client::WantsClientCert;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder};

use super::absolute;

/// The certificate (`sslcert`) and key (`sslkey`) files a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientCert {
    cert: PathBuf,
    key: PathBuf,
}

/// A certificate chain and its key, as rustls takes them.
type Loaded = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl ClientCert {
    /// From the URL's `sslcert` and `sslkey` values (percent-decoded):
    /// `None` when neither is given; an error naming the missing one when
    /// only one is, or a relative path.
    pub(super) fn new(cert: Option<&str>, key: Option<&str>) -> Result<Option<Self>, String> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: absolute("sslcert", cert)?,
                key: absolute("sslkey", key)?,
            })),
            (Some(_), None) => Err(
                "sslcert= is given without sslkey=: name the certificate's private key file too"
                    .to_owned(),
            ),
            (None, Some(_)) => Err(
                "sslkey= is given without sslcert=: name the client certificate file too"
                    .to_owned(),
            ),
        }
    }

    /// The certificate file, for messages.
    pub(super) fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Reads both files: the certificate chain (client certificate first)
    /// and the key. The error names the file and what is wrong with it; it
    /// never quotes the key file's content.
    fn load(&self) -> Result<Loaded, String> {
        Ok((self.certificates()?, self.private_key()?))
    }

    /// `builder` finished with this certificate presented when the server
    /// asks; the error names the file that is wrong, and a key that is not
    /// the certificate's (rustls compares their public keys).
    pub(super) fn present(
        &self,
        builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    ) -> Result<ClientConfig, String> {
        let (certs, key) = self.load()?;
        let (cert, key_file) = (self.cert.display(), self.key.display());
        builder.with_client_auth_cert(certs, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                format!("sslkey {key_file} is not the key of the certificate in sslcert {cert}")
            }
            other => format!("cannot present the certificate in sslcert {cert} with sslkey {key_file}: {other}"),
        })
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        let shown = self.cert.display();
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| format!("cannot read sslcert {shown}: {}", pem_failure(e)))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("sslcert {shown} is not PEM: {}", pem_failure(e)))?;
        if certs.is_empty() {
            return Err(format!(
                "sslcert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(certs)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, String> {
        let shown = self.key.display();
        let mut file = std::fs::File::open(&self.key)
            .map_err(|e| format!("cannot read sslkey {shown}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read sslkey {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("sslkey {shown} is not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Some(why) = access_refused(meta.mode(), meta.uid()) {
                return Err(format!("sslkey {shown} {why}"));
            }
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .map_err(|e| format!("cannot read sslkey {shown}: {e}"))?;
        if contains(&text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || contains(&text, b"Proc-Type: 4,ENCRYPTED")
        {
            return Err(format!(
                "sslkey {shown} is encrypted: intercomm takes no sslpassword; give it an \
                 unencrypted copy (openssl pkey -in KEY -out NEW), readable by its owner only"
            ));
        }
        // The content is never quoted: a malformed key file's lines are
        // secret.
        PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
            pem::Error::NoItemsFound => format!(
                "sslkey {shown} holds no private key (PEM: -----BEGIN PRIVATE KEY----- (PKCS#8), \
                 RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1))"
            ),
            _ => format!("sslkey {shown} is not a well-formed PEM file"),
        })
    }
}

/// Why a key file of `mode` owned by `uid` is refused, as libpq 15 rules:
/// owned by root, no more than `u=rw,g=r` (0640); owned by anyone else
/// (whom the check need not know: reading it despite such a mode means
/// owning it), no more than `u=rw` (0600).
fn access_refused(mode: u32, uid: u32) -> Option<String> {
    let (forbidden, most) = if uid == 0 {
        (0o037, "0640 (u=rw,g=r) when owned by root")
    } else {
        (0o077, "0600 (u=rw)")
    };
    (mode & forbidden != 0).then(|| {
        format!(
            "has group or world access (mode {:04o}): a private key's file may be at most {most}, \
             as libpq requires (chmod 0600 it)",
            mode & 0o7777
        )
    })
}

/// A pem error without any of the file's content (an I/O error's text, or
/// what kind of damage).
fn pem_failure(e: pem::Error) -> String {
    match e {
        pem::Error::Io(io) => io.to_string(),
        pem::Error::NoItemsFound => "no PEM section".to_owned(),
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a section is not base64".to_owned(),
        _ => "malformed".to_owned(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_modes_follow_libpq() {
        assert_eq!(access_refused(0o100600, 1000), None);
        assert_eq!(access_refused(0o100400, 1000), None);
        assert_eq!(access_refused(0o100640, 0), None);
        assert_eq!(access_refused(0o100600, 0), None);
        let refused = access_refused(0o100640, 1000).unwrap_or_default();
        assert!(
            refused.contains("has group or world access (mode 0640)"),
            "{refused}"
        );
        assert!(refused.contains("at most 0600"), "{refused}");
        let refused = access_refused(0o100644, 0).unwrap_or_default();
        assert!(refused.contains("(mode 0644)"), "{refused}");
        assert!(
            refused.contains("0640 (u=rw,g=r) when owned by root"),
            "{refused}"
        );
        assert!(access_refused(0o100660, 0).is_some(), "group write");
    }

    #[test]
    fn both_files_or_neither() {
        let err =
            |c: Option<&str>, k: Option<&str>| ClientCert::new(c, k).err().unwrap_or_default();
        assert_eq!(ClientCert::new(None, None), Ok(None));
        assert!(err(Some("/c.crt"), None).contains("sslcert= is given without sslkey="));
        assert!(err(None, Some("/c.key")).contains("sslkey= is given without sslcert="));
        assert!(err(Some("c.crt"), Some("/c.key")).contains("sslcert=c.crt is a relative path"));
        assert!(err(Some("/c.crt"), Some("")).contains("sslkey= names no file"));
    }

    #[test]
    fn bad_files_are_named_without_their_content() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let write = |name: &str, text: &str, mode: u32| -> std::io::Result<()> {
            let p = dir.path().join(name);
            std::fs::write(&p, text)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
        };
        let load = |cert: &str, key: &str| -> Result<String, Box<dyn std::error::Error>> {
            let c = ClientCert::new(Some(&path(cert)), Some(&path(key)))?.ok_or("none")?;
            Ok(c.load().err().unwrap_or_default())
        };
        write("empty.crt", "no certificate here\n", 0o644)?;
        write(
            "bad.key",
            "-----BEGIN PRIVATE KEY-----\nsecret!line\n-----END PRIVATE KEY-----\n",
            0o600,
        )?;
        let text = load("nope.crt", "bad.key")?;
        assert!(text.contains("cannot read sslcert"), "{text}");
        assert!(text.contains("nope.crt"), "{text}");
        let text = load("empty.crt", "bad.key")?;
        assert!(
            text.contains("empty.crt holds no PEM certificate"),
            "{text}"
        );
        // A key file's refusals, checked before the certificate is parsed.
        let key =
            ClientCert::new(Some(&path("empty.crt")), Some(&path("bad.key")))?.ok_or("none")?;
        let text = key.private_key().err().unwrap_or_default();
        assert!(
            text.contains("bad.key is not a well-formed PEM file"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        write("open.key", "whatever\n", 0o644)?;
        let open =
            ClientCert::new(Some(&path("empty.crt")), Some(&path("open.key")))?.ok_or("none")?;
        let text = open.private_key().err().unwrap_or_default();
        assert!(
            text.contains("open.key has group or world access (mode 0644)"),
            "{text}"
        );
        write("none.key", "no key\n", 0o600)?;
        let none =
            ClientCert::new(Some(&path("empty.crt")), Some(&path("none.key")))?.ok_or("none")?;
        let text = none.private_key().err().unwrap_or_default();
        assert!(text.contains("none.key holds no private key"), "{text}");
        write(
            "locked.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n",
            0o600,
        )?;
        let locked =
            ClientCert::new(Some(&path("empty.crt")), Some(&path("locked.key")))?.ok_or("none")?;
        let text = locked.private_key().err().unwrap_or_default();
        assert!(text.contains("locked.key is encrypted"), "{text}");
        Ok(())
    }
}
