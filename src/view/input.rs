//! `top`'s keys: what the person at the view asked for, from one key and
//! what the view shows (pure; [`super::top`] carries actions out).
//!
//! | key            | action                                                        |
//! |----------------|---------------------------------------------------------------|
//! | ↑ ↓ / k j      | select an instance                                            |
//! | y / a / n      | answer the pending permission (selected worker's, else the first): yes, always, no (asks a reason) |
//! | r              | reply to the open question (selected instance's, else the first) |
//! | Enter / t      | attach to the selected worker's pane (detach to come back)    |
//! | d              | the selected worker's diff against its base, in `$PAGER`      |
//! | w / m          | wake the selected worker with a line / send it a message      |
//! | f              | show only the selected instance's messages (again: all)       |
//! | X              | tear the fleet down (asks to confirm)                         |
//! | ?              | help                                                          |
//! | q / Ctrl-C     | quit                                                          |

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::model::{Decision, Model};
use crate::fleet::dialog::Choice;

/// What a typed line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The reason for answering `worker`'s permission request with no.
    DenyReason {
        worker: String,
    },
    /// A reply to the question `message_id` from `from`.
    Reply {
        from: String,
        message_id: String,
    },
    Wake {
        worker: String,
    },
    Message {
        worker: String,
    },
    /// `y` confirms the teardown.
    ConfirmTeardown,
}

/// A line being typed at the bottom of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub purpose: Purpose,
    pub text: String,
}

impl Prompt {
    /// The label shown before the text.
    pub fn label(&self) -> String {
        match &self.purpose {
            Purpose::DenyReason { worker } => format!("deny {worker}, reason: "),
            Purpose::Reply { from, .. } => format!("reply to {from}: "),
            Purpose::Wake { worker } => format!("wake {worker}: "),
            Purpose::Message { worker } => format!("message to {worker}: "),
            Purpose::ConfirmTeardown => "tear down the whole fleet? (y/n) ".to_owned(),
        }
    }
}

/// What the view does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Approve {
        worker: String,
        choice: Choice,
    },
    /// Answer no, then tell the worker why.
    Deny {
        worker: String,
        reason: String,
    },
    Reply {
        message_id: String,
        text: String,
    },
    Wake {
        worker: String,
        text: String,
    },
    Message {
        worker: String,
        text: String,
    },
    Attach {
        worker: String,
    },
    Diff {
        worker: String,
    },
    Teardown,
}

/// The view's own state (what is selected, typed, filtered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ui {
    /// Index into the model's rows.
    pub selected: usize,
    /// Show only messages from or to this instance.
    pub filter: Option<String>,
    pub prompt: Option<Prompt>,
    pub help: bool,
    /// The last action's outcome, shown until the next key.
    pub status: Option<String>,
}

impl Ui {
    /// The id of the selected row.
    pub fn selected_id<'a>(&self, model: &'a Model) -> Option<&'a str> {
        model.rows.get(self.selected).map(|r| r.id.as_str())
    }

    /// Handles one key; returns what to do, if anything.
    pub fn key(&mut self, model: &Model, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Quit);
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        self.status = None;
        let selected = self.selected_id(model).map(str::to_owned);
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(model.rows.len().saturating_sub(1));
            }
            KeyCode::Char('?') => self.help = !self.help,
            KeyCode::Char('f') => {
                self.filter = match (&self.filter, selected) {
                    (None, Some(id)) => Some(id),
                    _ => None,
                };
            }
            KeyCode::Char(c @ ('y' | 'a' | 'n')) => {
                let Some(worker) = self.permission(model) else {
                    self.status = Some("no permission request is pending".to_owned());
                    return None;
                };
                return match c {
                    'n' => {
                        self.prompt = Some(Prompt {
                            purpose: Purpose::DenyReason { worker },
                            text: String::new(),
                        });
                        None
                    }
                    'a' => Some(Action::Approve {
                        worker,
                        choice: Choice::Always,
                    }),
                    _ => Some(Action::Approve {
                        worker,
                        choice: Choice::Yes,
                    }),
                };
            }
            KeyCode::Char('r') => match self.question(model) {
                Some((from, message_id)) => {
                    self.prompt = Some(Prompt {
                        purpose: Purpose::Reply { from, message_id },
                        text: String::new(),
                    });
                }
                None => self.status = Some("no question is waiting for an answer".to_owned()),
            },
            KeyCode::Enter | KeyCode::Char('t') => {
                return selected.map(|worker| Action::Attach { worker });
            }
            KeyCode::Char('d') => return selected.map(|worker| Action::Diff { worker }),
            KeyCode::Char('w') => {
                self.prompt = selected.map(|worker| Prompt {
                    purpose: Purpose::Wake { worker },
                    text: String::new(),
                });
            }
            KeyCode::Char('m') => {
                self.prompt = selected.map(|worker| Prompt {
                    purpose: Purpose::Message { worker },
                    text: String::new(),
                });
            }
            KeyCode::Char('X') => {
                self.prompt = Some(Prompt {
                    purpose: Purpose::ConfirmTeardown,
                    text: String::new(),
                });
            }
            _ => {}
        }
        None
    }

    fn prompt_key(&mut self, key: KeyEvent) -> Option<Action> {
        let prompt = self.prompt.as_mut()?;
        if prompt.purpose == Purpose::ConfirmTeardown {
            let yes = key.code == KeyCode::Char('y');
            self.prompt = None;
            return yes.then_some(Action::Teardown);
        }
        match key.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Backspace => {
                prompt.text.pop();
            }
            KeyCode::Char(c) if !c.is_control() => prompt.text.push(c),
            KeyCode::Enter => {
                let Prompt { purpose, text } = self.prompt.take()?;
                let text = text.trim().to_owned();
                return match purpose {
                    Purpose::DenyReason { worker } => Some(Action::Deny {
                        worker,
                        reason: text,
                    }),
                    Purpose::Reply { message_id, .. } if !text.is_empty() => {
                        Some(Action::Reply { message_id, text })
                    }
                    Purpose::Wake { worker } if !text.is_empty() => {
                        Some(Action::Wake { worker, text })
                    }
                    Purpose::Message { worker } if !text.is_empty() => {
                        Some(Action::Message { worker, text })
                    }
                    _ => None,
                };
            }
            _ => {}
        }
        None
    }

    /// The worker whose permission request the keys answer.
    fn permission(&self, model: &Model) -> Option<String> {
        let selected = self.selected_id(model);
        let mut pending = model.decisions.iter().filter_map(|d| match d {
            Decision::Permission { worker, .. } => Some(worker.as_str()),
            Decision::Question { .. } => None,
        });
        let all: Vec<&str> = pending.by_ref().collect();
        all.iter()
            .find(|w| Some(**w) == selected)
            .or(all.first())
            .map(|w| (*w).to_owned())
    }

    /// The open question `r` answers: `(from, message id)`.
    fn question(&self, model: &Model) -> Option<(String, String)> {
        let selected = self.selected_id(model);
        let all: Vec<(&str, &str)> = model
            .decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Question {
                    from, message_id, ..
                } => Some((from.as_str(), message_id.as_str())),
                Decision::Permission { .. } => None,
            })
            .collect();
        all.iter()
            .find(|(f, _)| Some(*f) == selected)
            .or(all.first())
            .map(|(f, m)| ((*f).to_owned(), (*m).to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Spend;

    fn model() -> Model {
        Model {
            now_ms: 0,
            utc_offset_s: 0,
            rows: Vec::new(),
            lines: Vec::new(),
            decisions: vec![
                Decision::Question {
                    from: "worker-2".into(),
                    message_id: "q1".into(),
                    text: "which?".into(),
                },
                Decision::Permission {
                    worker: "worker-1".into(),
                    tool: "Bash".into(),
                    detail: "rm -rf build".into(),
                },
            ],
            fleet: Spend::default(),
            radar: Default::default(),
        }
    }

    fn press(ui: &mut Ui, m: &Model, c: KeyCode) -> Option<Action> {
        ui.key(m, KeyEvent::new(c, KeyModifiers::NONE))
    }

    #[test]
    fn y_a_n_answer_the_pending_permission() {
        let m = model();
        let mut ui = Ui::default();
        assert_eq!(
            press(&mut ui, &m, KeyCode::Char('a')),
            Some(Action::Approve {
                worker: "worker-1".into(),
                choice: Choice::Always
            })
        );
        assert_eq!(press(&mut ui, &m, KeyCode::Char('n')), None);
        for c in "not now".chars() {
            press(&mut ui, &m, KeyCode::Char(c));
        }
        assert_eq!(
            press(&mut ui, &m, KeyCode::Enter),
            Some(Action::Deny {
                worker: "worker-1".into(),
                reason: "not now".into()
            })
        );
        assert_eq!(ui.prompt, None);
    }

    #[test]
    fn r_replies_to_the_open_question_and_esc_cancels() {
        let m = model();
        let mut ui = Ui::default();
        press(&mut ui, &m, KeyCode::Char('r'));
        press(&mut ui, &m, KeyCode::Char('x'));
        assert_eq!(press(&mut ui, &m, KeyCode::Esc), None);
        assert_eq!(ui.prompt, None);
        press(&mut ui, &m, KeyCode::Char('r'));
        press(&mut ui, &m, KeyCode::Char('B'));
        assert_eq!(
            press(&mut ui, &m, KeyCode::Enter),
            Some(Action::Reply {
                message_id: "q1".into(),
                text: "B".into()
            })
        );
        assert_eq!(press(&mut ui, &m, KeyCode::Char('q')), Some(Action::Quit));
    }
}
