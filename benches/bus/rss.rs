//! Scenario 2, peak RSS: VmHWM of a master server idle and after its tool
//! calls, and of a worker after reading what the master sent it.

use serde_json::json;

use crate::Config;
use crate::common::R;
use crate::report::Row;
use crate::server::{Server, TempBus};

struct Rss {
    idle_mib: Vec<f64>,
    after_mib: Vec<f64>,
    worker_mib: Vec<f64>,
}

fn peak_rss(cfg: &Config) -> R<Rss> {
    let mut rss = Rss {
        idle_mib: Vec::new(),
        after_mib: Vec::new(),
        worker_mib: Vec::new(),
    };
    for _ in 0..cfg.rss_runs {
        let bus = TempBus::new(true)?;
        let mut m = Server::start(&bus.root, "master")?;
        let mut w = Server::start(&bus.root, "worker")?;
        m.initialize()?;
        w.initialize()?;
        rss.idle_mib.push(m.vm_kib("VmHWM")? as f64 / 1024.0);
        m.register(Some("master"))?;
        let wid = w.register(None)?;
        let mut sent = 0;
        // The registration counts as the first of the calls.
        for i in 0..cfg.rss_calls - 1 {
            if i % 2 == 0 {
                let msg = format!("rss probe {i}: a status line of ordinary length");
                m.call("intercomm_send", &json!({"to": wid, "message": msg}))?;
                sent += 1;
            } else {
                m.call("intercomm_status", &json!({}))?;
            }
        }
        rss.after_mib.push(m.vm_kib("VmHWM")? as f64 / 1024.0);
        let got = w.call("intercomm_read", &json!({"limit": 500}))?;
        let want = sent.min(500);
        if got["count"] != json!(want) {
            return Err(format!("rss: worker read {} of {want} messages", got["count"]).into());
        }
        rss.worker_mib.push(w.vm_kib("VmHWM")? as f64 / 1024.0);
    }
    Ok(rss)
}

/// Measures peak RSS and adds its rows.
pub fn run(cfg: &Config, rows: &mut Vec<Row>) -> R {
    eprintln!(
        "peak RSS: {} runs of {} calls ...",
        cfg.rss_runs, cfg.rss_calls
    );
    let rss = peak_rss(cfg)?;
    rows.push(Row::goal(
        format!("Peak RSS (VmHWM), master after {} calls", cfg.rss_calls),
        "MiB",
        rss.after_mib,
        2,
        "< 10",
        "98.5",
        |v| v < 10.0,
    ));
    rows.push(Row::info(
        "  VmHWM idle, after initialize",
        "MiB",
        rss.idle_mib,
        2,
    ));
    rows.push(Row::info(
        "  VmHWM worker after one 500-message read",
        "MiB",
        rss.worker_mib,
        2,
    ));
    Ok(())
}
