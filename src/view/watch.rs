//! `intercomm watch`: the fleet's events as JSON lines ([`super::events`])
//! until the reader goes away.

use super::events;
use super::feed::Feed;
use crate::error::Result;

/// Runs until `emit` returns false (stdout closed). Each object is handed
/// to `emit` once, in order.
pub async fn run(mut feed: Feed, mut emit: impl FnMut(&serde_json::Value) -> bool) -> Result<()> {
    let mut before = None;
    loop {
        if feed.step().await? || before.is_none() {
            let model = feed.model();
            for event in events::between(before.as_ref(), &model) {
                if !emit(&event) {
                    return Ok(());
                }
            }
            before = Some(model);
        }
        tokio::time::sleep(feed.pause()).await;
    }
}
