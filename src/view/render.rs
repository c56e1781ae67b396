//! Drawing `top` (pure: the same model and view state draw the same
//! frame). Layout, top to bottom: a title line with the fleet's spend; the
//! fleet table; the pending decisions; the merge radar (src/view/radar.rs),
//! once a worker changed something; the message stream (newest last);
//! the help line, or the line being typed. Below 120 columns the table
//! leaves out role, host and branch.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::input::Ui;
use super::model::{Decision, Kind, Model};
use crate::clock;

/// The help line (the full list is in the `?` panel).
pub const HELP: &str =
    "q quit ↑↓ y/a/n allow r reply ⏎ attach d diff w wake m msg f filter X down ?";

const KEYS: &[(&str, &str)] = &[
    ("↑ ↓ / k j", "select an instance"),
    ("y / a / n", "permission: yes / always / no (with a reason)"),
    ("r", "reply to the open question"),
    ("Enter / t", "attach to the pane (detach to come back)"),
    ("d", "diff against its base in $PAGER"),
    ("w / m", "wake it with a line / send it a message"),
    ("f", "only its messages (again: all)"),
    ("X", "tear the fleet down (asks first)"),
    ("q / Ctrl-C", "quit"),
];

/// Draws the whole view.
pub fn draw(frame: &mut Frame<'_>, model: &Model, ui: &Ui, title: &str) {
    let area = frame.area();
    let table_rows = model.rows.len().max(1) as u16 + 3;
    let decisions = model.decisions.len().min(4) as u16;
    let [head, table, pending, radar, stream, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Max(table_rows.min(area.height / 2).max(4)),
        Constraint::Length(if decisions == 0 { 0 } else { decisions + 2 }),
        Constraint::Length(super::radar::height(&model.radar)),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_line(model, title)), head);
    fleet(frame, table, model, ui);
    if decisions > 0 {
        decisions_box(frame, pending, model);
    }
    if radar.height > 0 {
        super::radar::draw(frame, radar, &model.radar);
    }
    if ui.help {
        help_box(frame, stream);
    } else {
        messages(frame, stream, model, ui);
    }
    frame.render_widget(Paragraph::new(foot_line(ui)), foot);
}

/// `HH:MM:SS` of epoch ms `ms` at `offset_s` from UTC.
fn hms(ms: i64, offset_s: i32) -> String {
    let secs = (ms / 1000 + i64::from(offset_s)).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The local time to the minute: a clock with seconds would redraw the
/// whole view every second (idle CPU, docs/VIEW.md).
fn hm(ms: i64, offset_s: i32) -> String {
    let secs = (ms / 1000 + i64::from(offset_s)).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
}

fn title_line(model: &Model, title: &str) -> Line<'static> {
    let waiting = model.decisions.len();
    let mut spans = vec![
        Span::styled("intercomm ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("{title}  {} in fleet  ", model.rows.len())),
        Span::raw(format!("spent {}  ", model.fleet.short())),
    ];
    if waiting > 0 {
        spans.push(Span::styled(
            format!("{waiting} waiting  "),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(hm(model.now_ms, model.utc_offset_s)));
    Line::from(spans)
}

fn colour(kind: Kind) -> Style {
    match kind {
        Kind::Ready => Style::new().fg(Color::Green),
        Kind::Running => Style::new().fg(Color::Cyan),
        Kind::Blocked | Kind::Waiting => {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        }
        Kind::Starting => Style::new(),
        Kind::Gone => Style::new().fg(Color::DarkGray),
    }
}

fn fleet(frame: &mut Frame<'_>, area: Rect, model: &Model, ui: &Ui) {
    let wide = area.width >= 120;
    let mut header = vec!["ID"];
    if wide {
        header.extend(["ROLE", "HOST"]);
    }
    header.extend(["STATE", if wide { "UNRD" } else { "UN" }, "LAST"]);
    if wide {
        header.push("BRANCH");
    }
    header.extend(["GIT", "SPENT", "SUMMARY"]);
    let rows = model.rows.iter().enumerate().map(|(i, r)| {
        let mut cells: Vec<Cell> = vec![Cell::from(r.id.clone())];
        if wide {
            cells.push(Cell::from(r.role));
            cells.push(Cell::from(r.host.clone()));
        }
        cells.push(Cell::from(r.state.clone()).style(colour(r.kind)));
        cells.push(Cell::from(if r.unread > 0 {
            r.unread.to_string()
        } else {
            String::new()
        }));
        cells.push(Cell::from(
            r.last_message_ms.map(clock::ago).unwrap_or_default(),
        ));
        if wide {
            cells.push(Cell::from(r.branch.clone()));
        }
        cells.push(Cell::from(r.progress.map_or(String::new(), |p| {
            if wide {
                format!(
                    "{}↑ {}f +{}-{}",
                    p.ahead, p.files, p.insertions, p.deletions
                )
            } else {
                format!("{}↑ +{}-{}", p.ahead, p.insertions, p.deletions)
            }
        })));
        cells.push(Cell::from(r.spend.as_ref().map_or(String::new(), |s| {
            if wide {
                s.short()
            } else {
                format!("${:.2}", s.cost_usd)
            }
        })));
        cells.push(Cell::from(r.summary.clone()));
        let row = Row::new(cells);
        if i == ui.selected {
            row.style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(30),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(16),
            Constraint::Length(16),
            Constraint::Length(17),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Length(9),
            Constraint::Length(24),
            Constraint::Length(2),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Fill(1),
        ]
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .block(Block::new().borders(Borders::TOP).title(" fleet "));
    frame.render_widget(table, area);
}

fn decisions_box(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let lines: Vec<Line> = model
        .decisions
        .iter()
        .take(4)
        .map(|d| match d {
            Decision::Permission {
                worker,
                tool,
                detail,
            } => Line::from(vec![
                Span::styled(format!("{worker} asks "), Style::new().fg(Color::Yellow)),
                Span::raw(format!("{tool} {detail}")),
                Span::styled(
                    "   y yes · a always · n no",
                    Style::new().fg(Color::DarkGray),
                ),
            ]),
            Decision::Question { from, text, .. } => Line::from(vec![
                Span::styled(format!("{from} asks: "), Style::new().fg(Color::Yellow)),
                Span::raw(text.clone()),
                Span::styled("   r reply", Style::new().fg(Color::DarkGray)),
            ]),
        })
        .collect();
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" waiting for you ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn messages(frame: &mut Frame<'_>, area: Rect, model: &Model, ui: &Ui) {
    let shown: Vec<&super::model::Line> = model
        .lines
        .iter()
        .filter(|l| {
            ui.filter
                .as_ref()
                .is_none_or(|f| l.from == *f || l.to == *f)
        })
        .collect();
    let room = area.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = shown[shown.len().saturating_sub(room)..]
        .iter()
        .map(|l| {
            let arrow = match &l.reply_to {
                Some(who) => format!("{} ↩ {who}", l.from),
                None => format!("{} → {}", l.from, l.to),
            };
            let kind_style = match l.kind.as_str() {
                "task" => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
                "question" => Style::new().fg(Color::Yellow),
                "done" => Style::new().fg(Color::Green),
                _ => Style::new().fg(Color::DarkGray),
            };
            Line::from(vec![
                Span::styled(
                    hms(l.at_ms, model.utc_offset_s),
                    Style::new().fg(Color::DarkGray),
                ),
                Span::raw(" "),
                Span::raw(arrow),
                Span::raw(" "),
                Span::styled(format!("[{}]", l.kind), kind_style),
                Span::raw(" "),
                Span::raw(l.text.clone()),
            ])
        })
        .collect();
    let title = match &ui.filter {
        Some(f) => format!(" messages of {f} (f: all) "),
        None => " messages ".to_owned(),
    };
    let block = Block::new().borders(Borders::TOP).title(title);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn help_box(frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<12}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" keys (? to close) ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn foot_line(ui: &Ui) -> Line<'static> {
    if let Some(p) = &ui.prompt {
        return Line::from(vec![
            Span::styled(p.label(), Style::new().fg(Color::Yellow)),
            Span::raw(super::model::clean(&p.text)),
            Span::raw("▏"),
        ]);
    }
    if let Some(s) = &ui.status {
        return Line::from(Span::styled(
            super::model::clean(s),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(Span::styled(HELP, Style::new().fg(Color::DarkGray)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::bus::hooks::HookState;
    use crate::bus::instances::Role;
    use crate::bus::messages::Message;
    use crate::contract::{Contract, Target, TargetType};
    use crate::cost::{Spend, Tokens};
    use crate::git::Progress;
    use crate::screen::PaneState;
    use crate::view::model::Seen;
    use crate::view::snapshot::{Member, OpenQuestion, Snapshot};

    const NOW: i64 = 1_800_000_000_000;

    fn member(id: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            role,
            host: "devbox".into(),
            alive: true,
            active: true,
            hook: None,
            summary: None,
            unread: 0,
            last_sent_ms: None,
            pane: Some(("%1".into(), String::new())),
            spawned: role == Role::Worker,
            spawned_at_ms: Some(NOW - 600_000),
            worktree: None,
            branch: None,
            base: None,
        }
    }

    fn message(seq: i64, from: &str, to: &str, kind: &str, content: &str) -> Message {
        Message {
            seq,
            id: format!("m{seq}"),
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
            content: content.into(),
            sent_at_ms: NOW - 300_000 + seq * 20_000,
            in_reply_to: None,
        }
    }

    fn model() -> Model {
        let mut w1 = member("worker-1", Role::Worker);
        w1.summary = Some("Rebuild the parser".into());
        w1.branch = Some("work-1".into());
        w1.last_sent_ms = Some(NOW - 40_000);
        let mut w2 = member("worker-2", Role::Worker);
        w2.hook = Some(HookState {
            id: "worker-2".into(),
            state: "running".into(),
            detail: "Edit".into(),
            claude_session: String::new(),
            at_ms: NOW - 125_000,
        });
        w2.unread = 2;
        w2.summary = Some("Docs for \u{1b}[31mthe view".into());
        let mut w3 = member("worker-10", Role::Worker);
        w3.alive = false;
        w3.spawned = false;
        let task = crate::contract::build(&Contract {
            role: "implementer".into(),
            role_instructions: "Do it".into(),
            aimfp_target: Target {
                kind: TargetType::Task,
                id: Some(42),
                slug: Some("parser".into()),
            },
            report_back: vec!["done".into()],
        });
        let question = message(4, "worker-2", "master", "question", "Keep the old API?");
        let mut answer = message(3, "master", "worker-1", "answer", "Yes, go ahead");
        answer.in_reply_to = Some("m2".into());
        let snap = Snapshot {
            taken_ms: NOW,
            members: vec![member("master", Role::Master), w1, w2, w3],
            messages: vec![
                message(1, "master", "worker-1", "task", &task),
                message(2, "worker-1", "master", "status", "Started;\nreading src/"),
                answer,
                question.clone(),
            ],
            questions: vec![OpenQuestion { message: question }],
            spend: BTreeMap::from([
                (
                    "worker-1".into(),
                    Spend {
                        tokens: Tokens {
                            input: 120_000,
                            output: 8_000,
                            ..Tokens::default()
                        },
                        cost_usd: 0.56,
                        unpriced: Vec::new(),
                    },
                ),
                ("worker-2".into(), Spend::default()),
            ]),
        };
        let seen = BTreeMap::from([(
            "worker-1".to_owned(),
            Seen {
                state: Some(PaneState::Blocked),
                tool: Some("Bash".into()),
                detail: Some("rm -rf build".into()),
            },
        )]);
        let progress = BTreeMap::from([(
            "worker-1".to_owned(),
            Progress {
                ahead: 3,
                files: 5,
                insertions: 120,
                deletions: 14,
            },
        )]);
        Model::build(&snap, &seen, &progress, NOW)
    }

    fn screen(width: u16, height: u16, ui: &Ui) -> String {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| draw(f, &model(), ui, "project")).unwrap();
        t.backend().to_string()
    }

    #[test]
    fn top_at_80x24() {
        insta::assert_snapshot!(screen(80, 24, &Ui::default()));
    }

    #[test]
    fn top_at_200x50() {
        let ui = Ui {
            selected: 2,
            ..Ui::default()
        };
        insta::assert_snapshot!(screen(200, 50, &ui));
    }

    #[test]
    fn top_filtered_with_a_prompt_at_80x24() {
        let ui = Ui {
            selected: 1,
            filter: Some("worker-1".into()),
            prompt: Some(crate::view::input::Prompt {
                purpose: crate::view::input::Purpose::DenyReason {
                    worker: "worker-1".into(),
                },
                text: "use cargo clean".into(),
            }),
            ..Ui::default()
        };
        insta::assert_snapshot!(screen(80, 24, &ui));
    }

    /// The radar box: worker-1 and worker-2 both changed src/calc.py,
    /// worker-2's base changed its README; the order puts worker-10 (alone)
    /// first. A path's escape sequence is drawn harmless.
    #[test]
    fn top_with_the_merge_radar_at_120x30() {
        use crate::radar::{WorkerChanges, analyse};
        let files = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect();
        let mut m = model();
        m.radar = analyse(&[
            WorkerChanges {
                worker: "worker-1".into(),
                commits_ahead: 3,
                files: files(&["src/calc.py", ".aimfp-project/project.db"]),
                base_changed: files(&[]),
            },
            WorkerChanges {
                worker: "worker-2".into(),
                commits_ahead: 1,
                files: files(&["src/calc.py", "README.md", "docs/\u{1b}[2Jx.md"]),
                base_changed: files(&["README.md", "docs/\u{1b}[2Jx.md"]),
            },
            WorkerChanges {
                worker: "worker-10".into(),
                commits_ahead: 1,
                files: files(&["src/other.py", ".aimfp-project/project.db"]),
                base_changed: files(&[]),
            },
        ]);
        let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
        t.draw(|f| draw(f, &m, &Ui::default(), "project")).unwrap();
        let shown = t.backend().to_string();
        assert!(!shown.contains('\u{1b}'));
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn top_help_at_80x24() {
        let ui = Ui {
            help: true,
            ..Ui::default()
        };
        insta::assert_snapshot!(screen(80, 24, &ui));
    }
}
