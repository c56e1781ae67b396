//! `intercomm host add|list|remove`: hosts recorded on the bus, checked
//! before anything would hand them to ssh.

use serde_json::Value;

use crate::support::*;

fn json(out: &[u8]) -> TestResult<Value> {
    Ok(serde_json::from_slice(out)?)
}

#[test]
fn hosts_are_added_listed_and_removed_by_the_master() -> TestResult {
    let project = Project::git()?;
    project.register_master_and_worker();
    project
        .cli()
        .args(["host", "add", "build1", "ssh://ic@10.0.0.2:2222"])
        .assert()
        .success();
    project
        .cli()
        .args(["host", "add", "build2", "ssh://ic@build2.example"])
        .assert()
        .success();
    let out = project.cli().args(["--json", "host", "list"]).output()?;
    let listed = json(&out.stdout)?;
    let names: Vec<(&str, &str)> = listed["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    (
                        h["name"].as_str().unwrap_or(""),
                        h["url"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            ("build1", "ssh://ic@10.0.0.2:2222"),
            ("build2", "ssh://ic@build2.example")
        ]
    );
    let again = project
        .cli()
        .args(["host", "add", "build1", "ssh://ic@10.0.0.3"])
        .output()?;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already recorded"));
    project
        .cli()
        .args(["host", "remove", "build1"])
        .assert()
        .success();
    let gone = project.cli().args(["host", "remove", "build1"]).output()?;
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no host named"));
    let out = project.cli().args(["--json", "host", "list"]).output()?;
    assert_eq!(
        json(&out.stdout)?["hosts"].as_array().map(Vec::len),
        Some(1)
    );
    Ok(())
}

#[test]
fn bad_names_and_destinations_are_refused_naming_what_is_wrong() -> TestResult {
    let project = Project::git()?;
    project.register_master_and_worker();
    for (name, url, says) in [
        ("b1", "ic@host", "must start with ssh://"),
        ("b1", "ssh://-oProxyCommand=sh@host", "user contains '='"),
        ("b1", "ssh://-x@host", "user must start"),
        ("b1", "ssh://ic@-oProxyCommand", "host must start"),
        ("b1", "ssh://ic@host name", "contains ' '"),
        ("b1", "ssh://ic@host:70000", "port"),
        ("b/1", "ssh://ic@host", "invalid `name`"),
        ("local", "ssh://ic@host", "this machine"),
    ] {
        let out = project.cli().args(["host", "add", name, url]).output()?;
        assert_eq!(out.status.code(), Some(1), "{name} {url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{name} {url}: {err}");
    }
    let out = project.cli().args(["--json", "host", "list"]).output()?;
    assert_eq!(
        json(&out.stdout)?["hosts"].as_array().map(Vec::len),
        Some(0)
    );
    Ok(())
}

#[test]
fn only_the_master_records_hosts() -> TestResult {
    let project = Project::git()?;
    project.register_master_and_worker();
    let out = project
        .cli()
        .args(["host", "add", "b1", "ssh://ic@host", "--from", "worker-1"])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Master-only"));
    Ok(())
}
