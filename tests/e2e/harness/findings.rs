//! What a test finds: failed checks and notes collected without stopping
//! the test, and the diagnostics printed when it fails.

use std::path::Path;

use super::{World, fail, short};

impl World {
    /// Records a failed expectation without stopping the test (so one run
    /// reports every defect it meets); [`World::finish`] fails on any.
    pub fn check(&self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("e2e {}: CHECK FAILED: {what}", self.name);
            self.findings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(what);
        }
    }

    /// Records an observation for the report. With INTERCOMM_E2E_STRICT=1
    /// it counts as a failed check.
    pub fn note(&self, what: impl Into<String>) {
        let what = what.into();
        if std::env::var("INTERCOMM_E2E_STRICT").is_ok_and(|v| v == "1") {
            self.check(false, what);
        } else {
            eprintln!("e2e {}: NOTE: {what}", self.name);
            self.notes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(what);
        }
    }

    /// Ends the test: fails it if any check failed.
    pub fn finish(&self) {
        let findings = self
            .findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !findings.is_empty() {
            fail(format!(
                "{} check(s) failed:\n  - {}",
                findings.len(),
                findings.join("\n  - ")
            ));
        }
    }

    pub(super) fn dump(&self) {
        eprintln!("\n======== e2e {}: diagnostics ========", self.name);
        let panes = self
            .tmux(&[
                "list-panes",
                "-a",
                "-F",
                "#{session_name} #{pane_id} #{pane_current_command}",
            ])
            .unwrap_or_default();
        for line in panes.lines() {
            let pane = line.split_whitespace().nth(1).unwrap_or_default();
            let text = self.capture(pane);
            let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = rows[rows.len().saturating_sub(30)..].join("\n");
            eprintln!("---- pane {line}\n{tail}");
        }
        eprintln!("---- model requests (cwd | prompt | results | rule | reply)");
        let reqs = self.requests();
        for r in &reqs[reqs.len().saturating_sub(60)..] {
            if r["tools"] != true {
                continue;
            }
            let reply: Vec<String> = r["reply"]["content"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| match b["type"].as_str() {
                    Some("tool_use") => format!(
                        "tool_use {} {}",
                        b["name"].as_str().unwrap_or(""),
                        b["input"]
                    ),
                    _ => format!("text {:?}", b["text"].as_str().unwrap_or("")),
                })
                .collect();
            let last = r["result_texts"]
                .as_array()
                .and_then(|a| a.last())
                .map(|x| {
                    format!(
                        " last_result={:?}",
                        short(x["text"].as_str().unwrap_or(""), 160)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "{} | {:?} | {} | {} | {}{last}",
                Path::new(r["cwd"].as_str().unwrap_or(""))
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                short(r["prompt"].as_str().unwrap_or(""), 70),
                r["results"],
                r["rule"],
                reply.join("; ")
            );
        }
        for file in ["master.err", "model.err"] {
            let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            let rows: Vec<&str> = text.lines().collect();
            eprintln!(
                "---- {file} (last 25 lines)\n{}",
                rows[rows.len().saturating_sub(25)..].join("\n")
            );
        }
        eprintln!("======== end of diagnostics ========\n");
    }
}
