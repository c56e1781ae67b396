//! Token usage from a Claude Code session transcript (the JSONL file a hook
//! payload names as `transcript_path`), read incrementally.
//!
//! Format, as Claude Code 2.1.332 writes it (measured against the stand-in
//! model): one JSON object per line; a model reply is a line with
//! `"type":"assistant"` and `message.{id, model, usage}`, where `usage` has
//! `input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`,
//! `output_tokens`, and `cache_creation.{ephemeral_5m_input_tokens,
//! ephemeral_1h_input_tokens}`. A reply with several content blocks is
//! written as several lines with the same `message.id` and the same usage:
//! each reply counts once (a repeat of the previous line's id replaces it).
//! Other lines (user turns, attachments, API request records) carry no
//! usage and are skipped without being parsed in full.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::prices;

/// Token counts of one or more model replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens not read from or written to the cache.
    pub input: u64,
    /// Input tokens written to the cache with a 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Input tokens written to the cache with a 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    pub output: u64,
}

impl Tokens {
    /// Every token, of every kind.
    pub fn total(&self) -> u64 {
        self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read + self.output
    }

    fn add(&mut self, o: &Tokens) {
        self.input += o.input;
        self.cache_write_5m += o.cache_write_5m;
        self.cache_write_1h += o.cache_write_1h;
        self.cache_read += o.cache_read;
        self.output += o.output;
    }

    fn sub(&mut self, o: &Tokens) {
        self.input = self.input.saturating_sub(o.input);
        self.cache_write_5m = self.cache_write_5m.saturating_sub(o.cache_write_5m);
        self.cache_write_1h = self.cache_write_1h.saturating_sub(o.cache_write_1h);
        self.cache_read = self.cache_read.saturating_sub(o.cache_read);
        self.output = self.output.saturating_sub(o.output);
    }

    /// What these tokens cost at `model`'s prices, in dollars; `None` when
    /// the model has no known price.
    pub fn cost(&self, model: &str) -> Option<f64> {
        let p = prices::price_of(model)?;
        let m = |n: u64, per_million: f64| n as f64 * per_million / 1e6;
        Some(
            m(self.input, p.input)
                + m(self.cache_write_5m, p.cache_write_5m)
                + m(self.cache_write_1h, p.cache_write_1h)
                + m(self.cache_read, p.cache_read)
                + m(self.output, p.output),
        )
    }
}

/// What has been read of one transcript: the byte offset reached, the
/// tokens per model, and the last reply seen (to replace its repeats).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Bytes of the transcript consumed (always at a line end).
    pub offset: u64,
    /// Tokens by model name.
    pub by_model: BTreeMap<String, Tokens>,
    /// `message.id` of the last reply counted, and its usage.
    #[serde(default)]
    pub last: Option<(String, String, Tokens)>,
}

impl Tally {
    /// Reads the complete lines of `bytes` (the transcript from
    /// [`Tally::offset`] on); a trailing partial line is left for the next
    /// call. Unreadable lines are skipped.
    pub fn absorb(&mut self, bytes: &[u8]) {
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        for line in bytes[..end].split(|&b| b == b'\n') {
            if let Some((id, model, tokens)) = reply_usage(line) {
                self.count(id, model, tokens);
            }
        }
        self.offset += end as u64 + 1;
    }

    fn count(&mut self, id: String, model: String, tokens: Tokens) {
        if let Some((last_id, last_model, last_tokens)) = &self.last
            && *last_id == id
            && let Some(t) = self.by_model.get_mut(last_model)
        {
            t.sub(last_tokens);
        }
        self.by_model.entry(model.clone()).or_default().add(&tokens);
        self.last = Some((id, model, tokens));
    }

    /// Every model's tokens together.
    pub fn tokens(&self) -> Tokens {
        let mut all = Tokens::default();
        for t in self.by_model.values() {
            all.add(t);
        }
        all
    }

    /// The cost of the priced models, in dollars, and the models with no
    /// known price (whose tokens are in [`Tally::tokens`] but not here).
    pub fn cost(&self) -> (f64, Vec<String>) {
        let mut dollars = 0.0;
        let mut unpriced = Vec::new();
        for (model, t) in &self.by_model {
            match t.cost(model) {
                Some(c) => dollars += c,
                None if t.total() > 0 => unpriced.push(model.clone()),
                None => {}
            }
        }
        (dollars, unpriced)
    }
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    message: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    id: Option<String>,
    model: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: u64,
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
}

/// `(message id, model, tokens)` of a transcript line holding a model
/// reply's usage, else `None`.
fn reply_usage(line: &[u8]) -> Option<(String, String, Tokens)> {
    // Most lines are not replies: skip them before parsing.
    if !contains(line, b"\"assistant\"") || !contains(line, b"\"usage\"") {
        return None;
    }
    let parsed: Line = serde_json::from_slice(line).ok()?;
    if parsed.kind != "assistant" {
        return None;
    }
    let reply = parsed.message?;
    let usage = reply.usage?;
    let (write_5m, write_1h) = match usage.cache_creation {
        Some(c) if c.ephemeral_5m_input_tokens + c.ephemeral_1h_input_tokens > 0 => {
            (c.ephemeral_5m_input_tokens, c.ephemeral_1h_input_tokens)
        }
        _ => (usage.cache_creation_input_tokens, 0),
    };
    Some((
        reply.id.unwrap_or_default(),
        reply.model.unwrap_or_default(),
        Tokens {
            input: usage.input_tokens,
            cache_write_5m: write_5m,
            cache_write_1h: write_1h,
            cache_read: usage.cache_read_input_tokens,
            output: usage.output_tokens,
        },
    ))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: &str, model: &str, input: u64, output: u64) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"{model}","usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}}}"#
        ) + "\n"
    }

    #[test]
    fn a_reply_split_into_lines_counts_once() {
        let mut t = Tally::default();
        let text = reply("a", "claude-opus-4-5", 100, 10)
            + &reply("a", "claude-opus-4-5", 100, 12)
            + "{\"type\":\"user\",\"message\":{\"content\":\"hi\"}}\n"
            + &reply("b", "claude-opus-4-5", 50, 5);
        t.absorb(text.as_bytes());
        assert_eq!(t.tokens().input, 150);
        assert_eq!(
            t.tokens().output,
            17,
            "the repeat of a replaced its first line"
        );
        assert_eq!(t.offset, text.len() as u64);
    }

    #[test]
    fn a_partial_last_line_waits_for_the_next_read() {
        let mut t = Tally::default();
        let line = reply("a", "claude-haiku-4-5", 1000, 0);
        let (head, tail) = line.split_at(30);
        t.absorb(head.as_bytes());
        assert_eq!((t.offset, t.tokens().total()), (0, 0));
        t.absorb(line.as_bytes());
        assert_eq!(t.tokens().input, 1000);
        assert_eq!(t.offset, line.len() as u64);
        assert!(!tail.is_empty());
    }

    #[test]
    fn unpriced_models_are_counted_not_costed() {
        let mut t = Tally::default();
        t.absorb(
            (reply("a", "claude-sonnet-4-5", 1_000_000, 0) + &reply("b", "mystery", 7, 0))
                .as_bytes(),
        );
        let (dollars, unpriced) = t.cost();
        assert!((dollars - 3.0).abs() < 1e-9);
        assert_eq!(unpriced, vec!["mystery".to_owned()]);
        assert_eq!(t.tokens().input, 1_000_007);
    }
}
