//! Tokens and cost per instance and for the fleet, counted from each Claude
//! Code session's transcript ([`transcript`]) at the prices of [`prices`],
//! and the optional caps that stop a worker over budget ([`caps`]).
//!
//! The hooks record each session's transcript path on the bus
//! ([`crate::bus::transcripts`]); whoever counts (a hook, `status`, `top`)
//! reads only the bytes appended since the stored offset. Readers that must
//! not write (status, top) count the tail in memory; the hooks store what
//! they counted.

pub mod caps;
pub mod gate;
pub mod prices;
pub mod transcript;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use crate::bus::Conn;
use serde::Serialize;

use crate::bus::transcripts::{self, TranscriptRow};
pub use transcript::{Tally, Tokens};

/// Most bytes of a transcript read in one count (a larger backlog is read
/// over several counts).
const MAX_READ: u64 = 64 << 20;

/// What an instance (or the fleet) has spent so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spend {
    pub tokens: Tokens,
    /// Dollars, for the models with a known price.
    pub cost_usd: f64,
    /// Models whose tokens are counted but have no known price.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

impl Spend {
    /// Adds another spend (e.g. a second transcript, or a worker to the fleet).
    pub fn add(&mut self, other: &Spend) {
        let t = &mut self.tokens;
        t.input += other.tokens.input;
        t.cache_write_5m += other.tokens.cache_write_5m;
        t.cache_write_1h += other.tokens.cache_write_1h;
        t.cache_read += other.tokens.cache_read;
        t.output += other.tokens.output;
        self.cost_usd += other.cost_usd;
        for m in &other.unpriced {
            if !self.unpriced.contains(m) {
                self.unpriced.push(m.clone());
            }
        }
    }

    fn of(tally: &Tally) -> Self {
        let (cost_usd, unpriced) = tally.cost();
        Self {
            tokens: tally.tokens(),
            cost_usd,
            unpriced,
        }
    }

    /// `1.2M tok $3.41` (or `$3.41+` when some models had no price).
    pub fn short(&self) -> String {
        let plus = if self.unpriced.is_empty() { "" } else { "+" };
        format!(
            "{} tok ${:.2}{plus}",
            human_tokens(self.tokens.total()),
            self.cost_usd
        )
    }
}

/// A token count as `950`, `12.3k`, `4.5M`.
pub fn human_tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `row`'s tally brought up to date with what its transcript gained since
/// (a transcript that shrank was replaced: it is counted again from the
/// start). A missing or unreadable file leaves the tally as stored.
pub fn caught_up(row: &TranscriptRow) -> Tally {
    let mut tally = row.tally.clone();
    let Ok(mut file) = std::fs::File::open(&row.path) else {
        return tally;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len < tally.offset {
        tally = Tally::default();
    }
    if len == tally.offset || file.seek(SeekFrom::Start(tally.offset)).is_err() {
        return tally;
    }
    let mut bytes = Vec::new();
    if let Err(err) = file.take(MAX_READ).read_to_end(&mut bytes) {
        tracing::warn!(target: "cost", path = %row.path, %err, "cannot read transcript");
        return tally;
    }
    tally.absorb(&bytes);
    tally
}

/// What every instance has spent, by id, counted without writing.
pub fn spend_by_instance(conn: &Conn) -> crate::bus::store::Result<BTreeMap<String, Spend>> {
    let mut out: BTreeMap<String, Spend> = BTreeMap::new();
    for row in transcripts::list(conn, None)? {
        out.entry(row.id.clone())
            .or_default()
            .add(&Spend::of(&caught_up(&row)));
    }
    Ok(out)
}

/// What `id` has spent, counting its transcripts' new lines and storing
/// the counts (the hooks' path; call inside a write transaction).
pub fn refresh(conn: &Conn, id: &str) -> crate::bus::store::Result<Spend> {
    let mut spend = Spend::default();
    for row in transcripts::list(conn, Some(id))? {
        let tally = caught_up(&row);
        if tally != row.tally {
            transcripts::put_tally(conn, &row.path, &tally)?;
        }
        spend.add(&Spend::of(&tally));
    }
    Ok(spend)
}

/// The fleet's total.
pub fn total<'a>(spends: impl IntoIterator<Item = &'a Spend>) -> Spend {
    let mut all = Spend::default();
    for s in spends {
        all.add(s);
    }
    all
}
