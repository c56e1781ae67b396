//! TLS to the bus: verified round trips, refusals that name the
//! certificate problem, and a server that demands TLS.

use super::*;

/// A cluster of this test's own with TLS (`pg-test-cluster start --tls`):
/// the cluster, and the path of the throwaway CA that signed its
/// certificate (for 127.0.0.1 and localhost). TCP clients are accepted
/// over TLS only.
fn tls_cluster() -> TestResult<(OwnCluster, String)> {
    let (cluster, text) = OwnCluster::launch("--tls")?;
    Ok((cluster, printed(&text, "INTERCOMM_TEST_PG_CA")?))
}

/// The TLS version of a bus's own connection and the client certificate's
/// DN (empty without one), `None` when it is plain (the server's
/// `pg_stat_ssl`, not the client's word).
fn tls_of(bus: &Bus) -> TestResult<Option<(String, String)>> {
    let rows: Vec<(String, String)> = bus.conn().query(
        "SELECT version, COALESCE(client_dn, '') FROM pg_stat_ssl
          WHERE pid = pg_backend_pid() AND ssl",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.into_iter().next())
}

/// A bus on `url` (created), in a folder of its own.
fn open_bus(url: &str) -> TestResult<(tempfile::TempDir, Bus)> {
    let dir = tempfile::tempdir()?;
    let paths = BusPaths::new(dir.path(), dir.path()).with_bus(Some(BusUrl::parse(url)?));
    let bus = Bus::open_or_create(&paths)?;
    Ok((dir, bus))
}

/// The error of opening a bus on `url`.
fn open_error(url: &str) -> TestResult<String> {
    match open_bus(url) {
        Ok(_) => Err(format!("{url}: connected").into()),
        Err(e) => Ok(e.to_string()),
    }
}

/// A project on the bus at `url` where the CLI registers a master and a
/// worker, and the worker's message `text` is sent and read back, every
/// process on a connection of its own.
fn round_trip(url: &str, text: &str) -> TestResult<Project> {
    let mut project = Project::plain()?;
    project.bus = Some(url.to_owned());
    project.register_master_and_worker();
    project
        .cli()
        .args(["send", "--from", "worker-1", "master", text])
        .assert()
        .success();
    project
        .cli()
        .args(["read", "--id", "master"])
        .assert()
        .success()
        .stdout(predicates::str::contains(text));
    Ok(project)
}

/// `sslmode=verify-full` against the cluster's CA: the CLI registers a
/// master and a worker, sends and reads, every process on its own TLS
/// connection; the server says the connections are encrypted, and doctor
/// says so too.
#[test]
fn a_round_trip_over_tls_verified_against_the_bus_ca() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let url = format!(
        "{}?schema=tls_trip&sslmode=verify-full&sslrootcert={ca}",
        cluster.url
    );
    let project = round_trip(&url, "over TLS")?;
    let bus = project.bus()?;
    let (version, _) = tls_of(&bus)?.ok_or("the server sees a plain connection")?;
    assert!(version.starts_with("TLS"), "{version}");
    let stored: Vec<String> = bus.conn().query(
        "SELECT content FROM messages WHERE to_id = 'master'",
        &[],
        |r| r.get(0),
    )?;
    assert_eq!(stored, ["over TLS"]);
    project
        .cli()
        .arg("doctor")
        .assert()
        .stdout(predicates::str::contains(format!(
            "TLS (verify-full, {version})"
        )));
    Ok(())
}

/// `verify-full` refuses a server whose certificate another CA signed, and
/// one whose certificate does not name the host asked for (`hostaddr`
/// reaches the right server under a wrong name), each error naming what
/// failed (and never the URL's password); `verify-ca` checks the chain
/// only, so the wrong name passes it.
#[test]
fn verify_full_refuses_a_certificate_of_another_ca_or_host() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let other = tempfile::tempdir()?;
    let other_ca = other.path().join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ])
        .arg("-keyout")
        .arg(other.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()?;
    assert!(made.status.success(), "{made:?}");
    let other_ca = other_ca.to_str().ok_or("path")?;
    // With a password in the URL (trust ignores it): never in the error.
    let with_password = cluster.url.replacen("postgres@", "postgres:hunter2@", 1);
    let err = open_error(&format!(
        "{with_password}?schema=tls_other&sslmode=verify-full&sslrootcert={other_ca}"
    ))?;
    assert!(
        err.contains(&format!(
            "the bus server's certificate is not signed by the CA in {other_ca}"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let port_and_db = cluster.url.rsplit(':').next().ok_or("port")?;
    let renamed = |mode: &str| {
        format!(
            "postgres://postgres@bus.example:{port_and_db}?hostaddr=127.0.0.1&schema=tls_name\
             &sslmode={mode}&sslrootcert={ca}"
        )
    };
    let err = open_error(&renamed("verify-full"))?;
    assert!(
        err.contains(
            "the bus server's certificate does not match host bus.example \
             (it names 127.0.0.1, localhost"
        ),
        "{err}"
    );
    let (_dir, bus) = open_bus(&renamed("verify-ca"))?;
    assert!(tls_of(&bus)?.is_some(), "verify-ca connected without TLS");
    Ok(())
}

/// `require` (no CA given) and the default `prefer` connect over TLS; the
/// negative control: the same server refuses `sslmode=disable`, so it really
/// demanded TLS of every connection above (pg_hba.conf: `hostssl` only).
/// And `require` refuses a server without TLS.
#[test]
fn require_encrypts_and_the_tls_server_refuses_a_plain_client() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, _ca) = tls_cluster()?;
    for query in ["sslmode=require", "sslmode=prefer", ""] {
        let (_dir, bus) = open_bus(&format!("{}?schema=tls_req&{query}", cluster.url))?;
        assert!(tls_of(&bus)?.is_some(), "{query}: not encrypted");
    }
    let err = open_error(&format!("{}?schema=tls_req&sslmode=disable", cluster.url))?;
    assert!(err.contains("no pg_hba.conf entry"), "{err}");
    assert!(err.contains("no encryption"), "{err}");
    let plain = OwnCluster::start()?;
    let err = open_error(&format!("{}?schema=tls_req&sslmode=require", plain.url))?;
    assert!(
        err.contains("the bus server does not accept TLS connections (sslmode=require)"),
        "{err}"
    );
    Ok(())
}

/// doctor on a bus "on another machine" (the URL's host is `bus.example`;
/// `hostaddr` reaches the test's server): with `verify-ca` it connects over
/// TLS and says so, but warns that the host name goes unchecked and says
/// what to add.
#[test]
fn doctor_warns_of_a_remote_bus_without_verify_full() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let port_and_db = cluster.url.rsplit(':').next().ok_or("port")?;
    let mut project = Project::plain()?;
    project.bus = Some(format!(
        "postgres://postgres@bus.example:{port_and_db}?hostaddr=127.0.0.1&schema=tls_doctor\
         &sslmode=verify-ca&sslrootcert={ca}"
    ));
    let out = project.cli().args(["--json", "doctor"]).output()?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bus = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "bus"))
        .ok_or(format!("no bus check in {report}"))?;
    assert_eq!(bus["verdict"], "warn", "{bus}");
    let detail = bus["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("TLS (verify-ca, TLSv1."), "{detail}");
    assert!(
        detail.contains("bus.example is another machine, and sslmode=verify-ca does not check"),
        "{detail}"
    );
    let fix = bus["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("sslmode=verify-full&sslrootcert="), "{fix}");
    Ok(())
}

/// After the server restarts, a long-lived connection comes back verified
/// and encrypted as before (the reconnect goes through the same TLS
/// settings; a plain reconnect would be refused by this server anyway, so
/// the check is that it comes back at all, and over TLS).
#[test]
fn a_connection_comes_back_over_tls_after_a_restart() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, ca) = tls_cluster()?;
    let (_dir, bus) = open_bus(&format!(
        "{}?schema=tls_again&sslmode=verify-full&sslrootcert={ca}",
        cluster.url
    ))?;
    assert!(tls_of(&bus)?.is_some(), "TLS before the restart");
    cluster.restart_immediate()?;
    let mut calls = 0;
    let after = loop {
        match tls_of(&bus) {
            Ok(v) => break v,
            Err(_) => {
                calls += 1;
                assert!(calls < 3, "the connection never came back");
            }
        }
    };
    assert!(after.is_some(), "came back without TLS");
    Ok(())
}

/// A cluster of this test's own whose TCP clients must present a client
/// certificate (`pg-test-cluster start --tls-client-cert`: pg_hba.conf's
/// `cert` method): the cluster, the CA, and the certificate and key
/// (mode 0600) the script made for the user `postgres`.
struct CertCluster {
    cluster: OwnCluster,
    ca: String,
    cert: String,
    key: String,
}

fn cert_cluster() -> TestResult<CertCluster> {
    let (cluster, text) = OwnCluster::launch("--tls-client-cert")?;
    Ok(CertCluster {
        cluster,
        ca: printed(&text, "INTERCOMM_TEST_PG_CA")?,
        cert: printed(&text, "INTERCOMM_TEST_PG_CLIENT_CERT")?,
        key: printed(&text, "INTERCOMM_TEST_PG_CLIENT_KEY")?,
    })
}

impl CertCluster {
    /// The URL, verified against the CA, with `client` appended (e.g.
    /// `&sslcert=…&sslkey=…`).
    fn url(&self, schema: &str, client: &str) -> String {
        format!(
            "{}?schema={schema}&sslmode=verify-full&sslrootcert={}{client}",
            self.cluster.url, self.ca
        )
    }

    fn with_cert(&self, schema: &str) -> String {
        self.url(
            schema,
            &format!("&sslcert={}&sslkey={}", self.cert, self.key),
        )
    }
}

/// `openssl <args>` in `dir`, which must succeed.
fn openssl(dir: &std::path::Path, args: &[&str]) -> TestResult {
    let made = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()?;
    assert!(made.status.success(), "openssl {args:?}: {made:?}");
    Ok(())
}

/// With `sslcert` and `sslkey`, a server that demands a client certificate
/// takes the connection: the CLI registers, sends and reads, the server
/// says which certificate it took (`pg_stat_ssl.client_dn`), and doctor
/// says so too.
#[test]
fn a_round_trip_with_a_client_certificate() -> TestResult {
    if skip() {
        return Ok(());
    }
    let server = cert_cluster()?;
    let url = server.with_cert("tls_cert_trip");
    let project = round_trip(&url, "with a certificate")?;
    let bus = project.bus()?;
    let (version, dn) = tls_of(&bus)?.ok_or("the server sees no TLS")?;
    assert_eq!(dn, "/CN=postgres");
    project
        .cli()
        .arg("doctor")
        .assert()
        .stdout(predicates::str::contains(format!(
            "TLS (verify-full, {version}, client certificate /CN=postgres)"
        )));
    Ok(())
}

/// The negative control of the round trip: the same server refuses a
/// connection without the certificate, and the error says a certificate
/// is wanted (never the URL's password); one signed by another CA is
/// refused in the handshake, and one of the right CA for another user
/// (CN) by the server's `cert` check, each error naming the file.
#[test]
fn a_cert_server_refuses_a_client_without_its_certificate() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    if skip() {
        return Ok(());
    }
    let server = cert_cluster()?;
    let with_password = server
        .url("tls_nocert", "")
        .replacen("postgres@", "postgres:hunter2@", 1);
    let err = open_error(&with_password)?;
    assert!(
        err.contains("the bus server requires a client certificate and the URL names none"),
        "{err}"
    );
    assert!(
        err.contains("connection requires a valid client certificate"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let other = tempfile::tempdir()?;
    openssl(
        other.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=postgres",
            "-keyout",
            "self.key",
            "-out",
            "self.crt",
        ],
    )?;
    let self_signed = other.path().join("self.crt");
    std::fs::set_permissions(
        other.path().join("self.key"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    let err = open_error(&server.url(
        "tls_nocert",
        &format!(
            "&sslcert={}&sslkey={}",
            self_signed.display(),
            other.path().join("self.key").display()
        ),
    ))?;
    assert!(
        err.contains(&format!(
            "it refused the client certificate in sslcert {}",
            self_signed.display()
        )),
        "{err}"
    );
    // Signed by the server's CA, but for another user than the URL's (a v3
    // certificate: webpki takes no other).
    std::fs::write(
        other.path().join("intruder.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )?;
    let ca_key = std::path::Path::new(&server.ca).with_file_name("ca.key");
    openssl(
        other.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=intruder",
            "-keyout",
            "intruder.key",
            "-out",
            "intruder.csr",
        ],
    )?;
    openssl(
        other.path(),
        &[
            "x509",
            "-req",
            "-in",
            "intruder.csr",
            "-CA",
            &server.ca,
            "-CAkey",
            ca_key.to_str().ok_or("path")?,
            "-CAserial",
            "intruder.srl",
            "-CAcreateserial",
            "-extfile",
            "intruder.ext",
            "-days",
            "1",
            "-out",
            "intruder.crt",
        ],
    )?;
    let intruder = other.path().join("intruder.crt");
    let intruder_key = other.path().join("intruder.key");
    std::fs::set_permissions(&intruder_key, std::fs::Permissions::from_mode(0o600))?;
    let err = open_error(&server.url(
        "tls_nocert",
        &format!(
            "&sslcert={}&sslkey={}",
            intruder.display(),
            intruder_key.display()
        ),
    ))?;
    assert!(
        err.contains(&format!(
            "the bus server refused the client certificate in sslcert {} (server: certificate \
             authentication failed for user \"postgres\")",
            intruder.display()
        )),
        "{err}"
    );
    Ok(())
}

/// Bad client-certificate settings are refused before any connection, each
/// naming the file and what is wrong: a key others may read (as libpq), a
/// key that is not the certificate's, `sslcert` without `sslkey`. The same
/// URL with the right key connects (so the refusals are the files').
#[test]
fn bad_client_certificate_files_are_refused_before_connecting() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    if skip() {
        return Ok(());
    }
    let server = cert_cluster()?;
    let dir = tempfile::tempdir()?;
    let open_key = dir.path().join("open.key");
    std::fs::copy(&server.key, &open_key)?;
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644))?;
    let url = |key: &std::path::Path| {
        server.url(
            "tls_badcert",
            &format!("&sslcert={}&sslkey={}", server.cert, key.display()),
        )
    };
    let err = open_error(&url(&open_key))?;
    assert!(
        err.contains(&format!(
            "sslkey {} has group or world access (mode 0644)",
            open_key.display()
        )),
        "{err}"
    );
    assert!(!err.contains("valid client certificate"), "{err}");
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            "other.key",
        ],
    )?;
    let other_key = dir.path().join("other.key");
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o600))?;
    let err = open_error(&url(&other_key))?;
    assert!(
        err.contains(&format!(
            "sslkey {} is not the key of the certificate in sslcert {}",
            other_key.display(),
            server.cert
        )),
        "{err}"
    );
    let err = open_error(&server.url("tls_badcert", &format!("&sslcert={}", server.cert)))?;
    assert!(
        err.contains("sslcert= is given without sslkey=: name the certificate's private key"),
        "{err}"
    );
    let (_dir, bus) = open_bus(&url(std::path::Path::new(&server.key)))?;
    assert!(tls_of(&bus)?.is_some(), "connected without TLS");
    Ok(())
}

/// `prefer` (and the default) fall back to a plain connection when the TLS
/// handshake fails, as libpq does: the server offers TLS (it answers the
/// TLS request; `require` gets as far as the handshake and fails there),
/// but only TLSv1.0-1.1, which rustls never speaks, and accepts plain.
#[test]
fn prefer_falls_back_to_plain_when_the_handshake_fails() -> TestResult {
    if skip() {
        return Ok(());
    }
    let (cluster, _text) = OwnCluster::launch("--tls-legacy")?;
    let err = open_error(&format!(
        "{}?schema=tls_legacy&sslmode=require",
        cluster.url
    ))?;
    assert!(
        err.contains("the TLS handshake with the bus server failed (sslmode=require)"),
        "{err}"
    );
    for query in ["sslmode=prefer", ""] {
        let (_dir, bus) = open_bus(&format!("{}?schema=tls_legacy&{query}", cluster.url))?;
        assert_eq!(tls_of(&bus)?, None, "{query}: encrypted after all");
    }
    Ok(())
}
