//! The merge radar in `top` (pure): the paths two or more workers changed,
//! the paths the base changed under a worker since its branch point, and
//! the suggested merge order, from the same [`Radar`] that
//! `intercomm_scan`, `intercomm_status` and `intercomm_worktree_list` show
//! (src/ops/radar.rs). Files changed and commits ahead per worker are the
//! fleet table's GIT column. Nothing is drawn while no worker changed
//! anything.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::model::clean;
use crate::radar::Radar;

/// The most lines the box takes (overlaps beyond it are counted).
const MAX_LINES: usize = 4;

/// The box's lines: one per shared path, one per worker whose base changed
/// its paths, then the merge order (the last line, always kept).
pub fn lines(radar: &Radar) -> Vec<Line<'static>> {
    if radar.merge_order.is_empty() && radar.overlaps.is_empty() {
        return Vec::new();
    }
    let warn = Style::new().fg(Color::Yellow);
    let mut out: Vec<Line<'static>> = radar
        .overlaps
        .iter()
        .map(|o| {
            Line::from(vec![
                Span::styled(clean(&o.path), warn.add_modifier(Modifier::BOLD)),
                Span::raw(format!(" changed by {}", clean(&o.workers.join(", ")))),
            ])
        })
        .chain(
            radar
                .workers
                .iter()
                .filter(|w| !w.base_overlaps.is_empty())
                .map(|w| {
                    Line::from(vec![
                        Span::styled(clean(&w.worker), warn),
                        Span::raw(format!(
                            ": the base changed {} since its branch point",
                            clean(&w.base_overlaps.join(", "))
                        )),
                    ])
                }),
        )
        .collect();
    if out.len() > MAX_LINES - 1 {
        let more = out.len() - (MAX_LINES - 2);
        out.truncate(MAX_LINES - 2);
        out.push(Line::styled(
            format!("… {more} more (intercomm worktree list)"),
            Style::new().fg(Color::DarkGray),
        ));
    }
    if !radar.merge_order.is_empty() {
        out.push(Line::from(vec![
            Span::styled("merge order ", Style::new().fg(Color::DarkGray)),
            Span::raw(clean(&radar.merge_order.join(" → "))),
        ]));
    }
    out
}

/// Rows the box needs: its lines and its top border, or 0.
pub fn height(radar: &Radar) -> u16 {
    match lines(radar).len() {
        0 => 0,
        n => n as u16 + 1,
    }
}

/// Draws the box into `area`.
pub fn draw(frame: &mut Frame<'_>, area: Rect, radar: &Radar) {
    let shared = radar.overlaps.len();
    let title = if shared == 0 {
        " merge radar ".to_owned()
    } else {
        format!(" merge radar: {shared} shared path(s) ")
    };
    let block = Block::new().borders(Borders::TOP).title(title);
    frame.render_widget(Paragraph::new(lines(radar)).block(block), area);
}
