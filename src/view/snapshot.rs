//! What the bus says about the fleet at one moment: every instance and
//! spawned session, the latest messages, the open questions to the master,
//! and what each instance spent. Reads only (one connection, no writes),
//! so that `top` and `watch` never change the bus they watch.

use std::collections::BTreeMap;

use crate::bus::Conn;

use crate::bus::hooks::{self, HookState};
use crate::bus::instances::{self, Role};
use crate::bus::messages::{self, Message};
use crate::bus::{sessions, worktrees};
use crate::clock;
use crate::cost::{self, Spend};
use crate::names::MASTER_ID;

/// How many of the newest messages a snapshot holds.
pub const MESSAGES: i64 = 200;

/// One instance or spawned session, as the bus knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub role: Role,
    /// The host its process runs on (empty for a session not yet registered).
    pub host: String,
    /// Registered and its process alive.
    pub alive: bool,
    /// A registration exists and was not signed off.
    pub active: bool,
    /// What the hooks last reported, if anything.
    pub hook: Option<HookState>,
    pub summary: Option<String>,
    pub unread: i64,
    /// When it last sent a message, epoch ms.
    pub last_sent_ms: Option<i64>,
    /// The tmux pane (`%N`) and its server's socket, if known.
    pub pane: Option<(String, String)>,
    /// Spawned by this bus and its session not ended.
    pub spawned: bool,
    /// When spawned, epoch ms.
    pub spawned_at_ms: Option<i64>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// The revision its worktree started from.
    pub base: Option<String>,
}

/// A question addressed to the master that has no reply yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenQuestion {
    pub message: Message,
}

/// The bus at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub taken_ms: i64,
    pub members: Vec<Member>,
    /// The newest [`MESSAGES`] messages, oldest first.
    pub messages: Vec<Message>,
    pub questions: Vec<OpenQuestion>,
    pub spend: BTreeMap<String, Spend>,
}

impl Snapshot {
    /// Reads the bus through `conn`.
    pub fn load(conn: &Conn) -> crate::bus::store::Result<Self> {
        let now = clock::now_ms();
        let rows = instances::list(conn)?;
        let live = sessions::live(conn)?;
        let mut members: BTreeMap<String, Member> = BTreeMap::new();
        for r in &rows {
            members.insert(
                r.id.clone(),
                Member {
                    id: r.id.clone(),
                    role: r.role,
                    host: r.process.host.clone(),
                    alive: r.is_alive(now),
                    active: r.active,
                    hook: None,
                    summary: None,
                    unread: 0,
                    last_sent_ms: None,
                    pane: (!r.pane.is_empty()).then(|| (r.pane.clone(), r.tmux_socket.clone())),
                    spawned: false,
                    spawned_at_ms: None,
                    worktree: None,
                    branch: None,
                    base: None,
                },
            );
        }
        for s in &live {
            let m = members.entry(s.name.clone()).or_insert_with(|| Member {
                id: s.name.clone(),
                role: Role::Worker,
                host: String::new(),
                alive: false,
                active: false,
                hook: None,
                summary: None,
                unread: 0,
                last_sent_ms: None,
                pane: None,
                spawned: true,
                spawned_at_ms: None,
                worktree: None,
                branch: None,
                base: None,
            });
            m.spawned = true;
            m.spawned_at_ms = Some(s.spawned_at_ms);
            m.pane = Some((s.pane.clone(), s.tmux_socket.clone()));
            if !s.worktree.is_empty() {
                m.worktree = Some(s.worktree.clone());
            }
        }
        for m in members.values_mut() {
            m.hook = hooks::get(conn, &m.id)?;
            let own = rows
                .iter()
                .find(|r| r.id == m.id)
                .map_or("", |r| r.summary.as_str());
            m.summary = crate::ops::threads::summary_of(conn, &m.id, own).unwrap_or(None);
            let cursor = messages::cursor(conn, &m.id)?;
            m.unread = messages::count_inbox(conn, &m.id, cursor, 1000)?;
            m.last_sent_ms = messages::last_sent_at(conn, &m.id)?;
            if let Some(w) = worktrees::get(conn, &m.id)?
                .filter(|w| w.status != worktrees::WorktreeStatus::Removed)
            {
                m.worktree = Some(w.path);
                m.branch = Some(w.branch).filter(|b| !b.is_empty());
                m.base = Some(w.base).filter(|b| !b.is_empty());
            }
        }
        let mut members: Vec<Member> = members.into_values().collect();
        // The master first, then by id as a person counts (worker-2 before worker-10).
        members.sort_by_key(|m| (m.role != Role::Master, natural(&m.id)));
        Ok(Self {
            taken_ms: now,
            members,
            messages: messages::latest(conn, MESSAGES)?,
            questions: messages::open_questions(conn, MASTER_ID)?
                .into_iter()
                .map(|message| OpenQuestion { message })
                .collect(),
            spend: cost::spend_by_instance(conn)?,
        })
    }

    /// The highest message seq in the snapshot (0 when none).
    pub fn last_seq(&self) -> i64 {
        self.messages.last().map_or(0, |m| m.seq)
    }
}

/// A sort key that orders the digits in ids by value.
fn natural(id: &str) -> (String, u64) {
    let digits: String = id.chars().rev().take_while(char::is_ascii_digit).collect();
    let head = &id[..id.len() - digits.len()];
    let n = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (head.to_owned(), n)
}
