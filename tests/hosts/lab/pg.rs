//! The lab's own PostgreSQL server (`INTERCOMM_HOSTS_BUS=postgres`, see
//! [`super`]).

use std::path::Path;
use std::process::Command;

use super::{Lab, PREFIX, TestResult, run, sh};

/// PostgreSQL's server binaries: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<major>/bin` (as scripts/pg-test-cluster picks them).
fn pg_bin() -> Option<String> {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return Some(bin);
    }
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|m| Path::new(&format!("/usr/lib/postgresql/{m}/bin/initdb")).exists())
        .collect();
    majors.sort_unstable();
    majors
        .last()
        .map(|m| format!("/usr/lib/postgresql/{m}/bin"))
}

impl Lab {
    /// `INTERCOMM_HOSTS_BUS=postgres`: a throwaway PostgreSQL server (Debian's
    /// postgresql-15, as the `postgres` user) on the test namespace's end of
    /// host 1's veth pair, which every host routes to, trusting the lab's
    /// subnet; every intercomm process of the lab gets its URL.
    pub(super) fn start_pg(&mut self) -> TestResult {
        let bin = pg_bin()
            .ok_or("no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)")?;
        let dir = std::env::temp_dir().join(format!("{PREFIX}-{}-pg", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        sh("chown", &["postgres:", &dir.display().to_string()])?;
        self.pg_dir = Some(dir.clone());
        let data = dir.join("data").display().to_string();
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{bin}/initdb"))
            .args([
                "--no-sync",
                "-N",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-D",
                &data,
            ]))?;
        let hba = dir.join("data").join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba)?;
        rules.push_str("host all all 172.30.0.0/16 trust\n");
        std::fs::write(&hba, rules)?;
        let addr = format!("{}.5", self.subnet());
        let port = 20000 + std::process::id() % 20000;
        run(Command::new("runuser").args(["-u", "postgres", "--"]).arg(format!("{bin}/pg_ctl")).args([
            "-D", &data, "-l", &dir.join("server.log").display().to_string(), "-w", "-t", "30", "-o",
            &format!("-p {port} -k {} -c listen_addresses={addr} -c fsync=off -c max_connections=200", dir.display()),
            "start",
        ]))?;
        self.bus_env.push((
            "INTERCOMM_BUS".to_owned(),
            format!("postgres://postgres@{addr}:{port}/postgres"),
        ));
        Ok(())
    }

    /// Stops the server, if the lab runs one, and removes its folder.
    pub(super) fn stop_pg(&self) {
        if let Some(dir) = &self.pg_dir {
            let _ = run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .args([
                    &format!("{}/pg_ctl", pg_bin().unwrap_or_default()),
                    "-D",
                    &dir.join("data").display().to_string(),
                    "-m",
                    "immediate",
                    "stop",
                ]));
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
