//! What Claude models cost, per million tokens, in US dollars.
//!
//! Source: Anthropic's price list, platform.claude.com/docs/en/about-claude/pricing,
//! read on 2026-12-06. Cache writes cost 1.25× the input price when they
//! live 5 minutes and 2× when they live 1 hour; cache hits 0.1× (Fable and
//! Mythos 5.1 0.025×), as that page lists them. Not modelled: the batch
//! discount (Claude Code does not batch) and the long-context premium some
//! Sonnet models charge above 200K input tokens (a request that large is
//! priced here at the base rate, so a cost shown is then a lower bound).
//!
//! A model is matched by family (`opus`, `sonnet`, `haiku`, `fable`,
//! `mythos`) and version, in both of Anthropic's naming schemes
//! (`claude-opus-4-5-20251101`, `claude-3-5-haiku-20241022`); a model that
//! matches nothing has no price, and its tokens are counted but not costed.

use serde::Serialize;

/// Prices of one model, dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub input: f64,
    /// Cache write, 5-minute lifetime.
    pub cache_write_5m: f64,
    /// Cache write, 1-hour lifetime.
    pub cache_write_1h: f64,
    /// Cache hit (read) and refresh.
    pub cache_read: f64,
    pub output: f64,
}

impl Price {
    /// The usual multiples of an input and an output price.
    const fn standard(input: f64, output: f64) -> Self {
        Self {
            input,
            cache_write_5m: input * 1.25,
            cache_write_1h: input * 2.0,
            cache_read: input * 0.1,
            output,
        }
    }
}

/// When this table was read from its source.
pub const PRICES_AS_OF: &str = "2026-12-06";

/// The price of `model` (as a transcript names it), if it is known.
pub fn price_of(model: &str) -> Option<Price> {
    let name = model.to_ascii_lowercase();
    let words: Vec<&str> = name.split(['-', '[', '.', '@', ' ']).collect();
    let family = words
        .iter()
        .position(|w| ["opus", "sonnet", "haiku", "fable", "mythos"].contains(w))?;
    let version =
        version_after(&words[family + 1..]).or_else(|| version_after(&words[..family]))?;
    let price = match (words[family], version) {
        ("fable" | "mythos", (5, 1..)) | ("fable" | "mythos", (6.., _)) => Price {
            cache_read: 0.25,
            ..Price::standard(10.0, 50.0)
        },
        ("fable" | "mythos", _) => Price::standard(10.0, 50.0),
        ("opus", (4, 5..)) | ("opus", (5.., _)) => Price::standard(5.0, 25.0),
        ("opus", _) => Price::standard(15.0, 75.0),
        ("sonnet", _) => Price::standard(3.0, 15.0),
        ("haiku", (4.., _)) => Price::standard(1.0, 5.0),
        ("haiku", (3, 5..)) => Price::standard(0.8, 4.0),
        ("haiku", _) => Price::standard(0.25, 1.25),
        _ => return None,
    };
    Some(price)
}

/// `(major, minor)` from words such as `["4", "5", "20251101"]` or
/// `["3", "5"]`; a date (more than 2 digits) is not a minor version.
fn version_after(words: &[&str]) -> Option<(u32, u32)> {
    fn small(w: &&&str) -> bool {
        w.len() <= 2 && !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
    }
    let mut numbers = words.iter().skip_while(|w| !small(w)).take_while(small);
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_priced_by_family_and_version() {
        let io = |m: &str| price_of(m).map(|p| (p.input, p.output));
        assert_eq!(io("claude-opus-4-5-20251101"), Some((5.0, 25.0)));
        assert_eq!(io("claude-opus-4-8[1m]"), Some((5.0, 25.0)));
        assert_eq!(io("claude-opus-5-5"), Some((5.0, 25.0)));
        assert_eq!(io("claude-opus-4-1-20250805"), Some((15.0, 75.0)));
        assert_eq!(io("claude-opus-4-20250514"), Some((15.0, 75.0)));
        assert_eq!(io("claude-3-opus-20240229"), Some((15.0, 75.0)));
        assert_eq!(io("claude-sonnet-4-5"), Some((3.0, 15.0)));
        assert_eq!(io("claude-3-7-sonnet-20250219"), Some((3.0, 15.0)));
        assert_eq!(io("claude-haiku-4-5-20251001"), Some((1.0, 5.0)));
        assert_eq!(io("claude-3-5-haiku-20241022"), Some((0.8, 4.0)));
        assert_eq!(io("claude-3-haiku-20240307"), Some((0.25, 1.25)));
        assert_eq!(io("claude-fable-5"), Some((10.0, 50.0)));
        assert_eq!(
            price_of("claude-fable-5-1").map(|p| p.cache_read),
            Some(0.25)
        );
        assert_eq!(price_of("claude-fable-5").map(|p| p.cache_read), Some(1.0));
        assert_eq!(price_of("gpt-4o"), None);
        assert_eq!(price_of("<synthetic>"), None);
        assert_eq!(price_of("claude-opus"), None, "no version, no guess");
    }

    #[test]
    fn cache_prices_are_multiples_of_the_input_price() {
        let p = price_of("claude-sonnet-4-6").unwrap_or(Price::standard(0.0, 0.0));
        assert_eq!((p.cache_write_5m, p.cache_write_1h), (3.75, 6.0));
        assert!((p.cache_read - 0.3).abs() < 1e-12);
    }
}
