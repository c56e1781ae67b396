//! `intercomm top`: the terminal loop. Waits for a key (crossterm's poll)
//! for at most the bus watcher's pause, then checks the bus; redraws when
//! what it shows changed: the model after a bus change, a scan or a key,
//! a resize, and ages (the model is rebuilt once a second, and drawn only
//! when it differs from the one on screen: the clock shows minutes, and an
//! age past a minute changes once a minute). An idle view draws about once
//! a minute (docs/VIEW.md, idle CPU). Attaching and the pager hand the
//! terminal over and take it back.

use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use super::feed::Feed;
use super::input::{Action, Ui};
use super::model::Model;
use super::{render, review};
use crate::bus::messages::MessageType;
use crate::error::{Error, Result};
use crate::fleet::dialog::Choice;
use crate::fleet::{scan, teardown, wake, with_ctx};
use crate::ops::{Outcome, messaging, threads};

/// Runs the view until the person quits.
pub fn run(mut feed: Feed, prefix: &str, title: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("runtime", format!("cannot start the runtime: {e}")))?;
    rt.block_on(feed.step())?;
    let mut model = feed.model();
    let mut ui = Ui::default();
    let mut terminal = ratatui::init();
    let outcome = (|| -> Result<()> {
        let mut aged = Instant::now();
        let mut dirty = true;
        let mut shown: Option<Model> = None;
        loop {
            if !dirty && aged.elapsed() >= Duration::from_secs(1) {
                aged = Instant::now();
                model = feed.model();
                dirty = shown.as_ref().is_none_or(|s| !same_view(s, &model));
            }
            if dirty {
                ui.selected = ui.selected.min(model.rows.len().saturating_sub(1));
                terminal
                    .draw(|f| render::draw(f, &model, &ui, title))
                    .map_err(term)?;
                shown = Some(model.clone());
                aged = Instant::now();
                dirty = false;
            }
            if event::poll(feed.pause()).map_err(term)? {
                match event::read().map_err(term)? {
                    Event::Key(k) if k.kind == KeyEventKind::Press => {
                        dirty = true;
                        let Some(action) = ui.key(&model, k) else {
                            continue;
                        };
                        if action == Action::Quit {
                            return Ok(());
                        }
                        let said = perform(&rt, &mut feed, &mut terminal, prefix, action);
                        ui.status = Some(said);
                        feed.poke();
                        rt.block_on(feed.step())?;
                        model = feed.model();
                    }
                    Event::Resize(..) => dirty = true,
                    _ => {}
                }
            } else if rt.block_on(feed.step())? {
                model = feed.model();
                dirty = true;
            }
        }
    })();
    ratatui::restore();
    outcome
}

/// Whether two models look the same on screen: equal but for the time,
/// which shows to the minute (ages are already text in the model).
fn same_view(a: &Model, b: &Model) -> bool {
    let minute = |m: &Model| m.now_ms.div_euclid(60_000);
    minute(a) == minute(b)
        && Model {
            now_ms: b.now_ms,
            ..a.clone()
        } == *b
}

fn term(e: std::io::Error) -> Error {
    Error::internal("terminal", format!("terminal error: {e}"))
}

/// Hands the terminal to `f` (a pager, tmux attach) and takes it back.
fn suspended<T>(terminal: &mut DefaultTerminal, f: impl FnOnce() -> T) -> T {
    ratatui::restore();
    let out = f();
    *terminal = ratatui::init();
    let _ = terminal.clear();
    out
}

/// Carries out `action`; returns the line the view shows about it.
fn perform(
    rt: &tokio::runtime::Runtime,
    feed: &mut Feed,
    terminal: &mut DefaultTerminal,
    prefix: &str,
    action: Action,
) -> String {
    let ctx = feed.ctx();
    let done: Result<String> = match action {
        Action::Quit => Ok(String::new()),
        Action::Approve { worker, choice } => rt
            .block_on(scan::approve(ctx, &worker, choice, 5, None, None))
            .map(|a| a.text()),
        Action::Deny { worker, reason } => deny(rt, ctx, &worker, &reason),
        Action::Reply { message_id, text } => with_ctx(ctx, |c| {
            threads::reply(c, &message_id, &text, MessageType::Answer).map(|r| r.text())
        }),
        Action::Wake { worker, text } => rt
            .block_on(wake::wake(ctx, &worker, &text))
            .map(|w| w.text()),
        Action::Message { worker, text } => with_ctx(ctx, |c| {
            messaging::send(c, &worker, &text, MessageType::Status).map(|s| s.text())
        }),
        Action::Teardown => rt
            .block_on(teardown::teardown(ctx, prefix, false, false))
            .map(|t| t.text()),
        Action::Diff { worker } => with_ctx(ctx, |c| review::patch(c, &worker)).and_then(|p| {
            suspended(terminal, || review::page(&p))?;
            Ok(format!("diff of {worker} closed"))
        }),
        Action::Attach { worker } => suspended(terminal, || {
            rt.block_on(review::attach(ctx, &worker))
                .map(|()| format!("back from {worker}"))
        }),
    };
    match done {
        Ok(line) => line.lines().next().unwrap_or_default().to_owned(),
        Err(e) => format!("{}: {}", e.code, e.message),
    }
}

/// Answers no. A request waiting on the bus carries the reason to the
/// worker's model through its hook; a dialog answered with keys cannot, so
/// the reason then follows as an `answer` message.
fn deny(
    rt: &tokio::runtime::Runtime,
    ctx: &std::sync::Mutex<crate::ops::Ctx>,
    worker: &str,
    reason: &str,
) -> Result<String> {
    if reason.is_empty() {
        return rt
            .block_on(scan::approve(ctx, worker, Choice::No, 5, None, None))
            .map(|a| a.text());
    }
    match rt.block_on(scan::approve(
        ctx,
        worker,
        Choice::No,
        5,
        None,
        Some(reason),
    )) {
        Err(e) if e.code == "invalid_argument" => {}
        other => return other.map(|a| a.text()),
    }
    let a = rt.block_on(scan::approve(ctx, worker, Choice::No, 5, None, None))?;
    let what = match (&a.tool, &a.detail) {
        (Some(t), Some(d)) => format!("{t} `{d}`"),
        _ => "your permission request".to_owned(),
    };
    let text = format!("The master answered no to {what}: {reason}");
    with_ctx(ctx, |c| {
        messaging::send(c, worker, &text, MessageType::Answer)
    })?;
    Ok(format!("{} — reason sent to {worker}", a.text()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::view::snapshot::Snapshot;

    fn model_at(now_ms: i64) -> Model {
        Model::build(
            &Snapshot::default(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            now_ms,
        )
    }

    #[test]
    fn a_view_is_redrawn_only_when_what_it_shows_changed() {
        let eight = 8 * 3_600_000;
        // Seconds pass: the clock shows minutes, nothing else changed.
        assert!(same_view(
            &model_at(eight + 5_000),
            &model_at(eight + 59_000)
        ));
        // The minute turns.
        assert!(!same_view(
            &model_at(eight + 59_000),
            &model_at(eight + 60_000)
        ));
        // Something else changed.
        let mut other = model_at(eight + 5_000);
        other.utc_offset_s = 3600;
        assert!(!same_view(&model_at(eight + 5_000), &other));
    }
}
