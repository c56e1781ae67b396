//! intercomm's own tmux call log: the master's server logs every tmux
//! command it runs (`tmux.cmd`, at debug, to master.err). The keys and
//! pastes it sent to one pane are read from there.

use super::World;

impl World {
    /// The length of the master's log now: a mark to count from.
    pub fn tmux_log_mark(&self) -> usize {
        std::fs::read_to_string(self.dir.join("master.err"))
            .map(|t| t.len())
            .unwrap_or(0)
    }

    /// The tmux commands the master's intercomm sent to `pane` since `mark`
    /// that type into it (`send-keys`, `paste-buffer`), as logged.
    pub fn keys_sent(&self, pane: &str, mark: usize) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.join("master.err")).unwrap_or_default();
        let target = format!("\"{pane}\"");
        log.get(mark..)
            .unwrap_or("")
            .lines()
            .filter(|l| l.contains("tmux.cmd"))
            .filter(|l| l.contains("\"send-keys\"") || l.contains("\"paste-buffer\""))
            .filter(|l| l.contains(&target))
            .map(str::to_owned)
            .collect()
    }

    /// Every tmux command the master's intercomm logged (to check the log
    /// is being written at all).
    pub fn tmux_calls(&self) -> usize {
        std::fs::read_to_string(self.dir.join("master.err"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("tmux.cmd"))
            .count()
    }
}
