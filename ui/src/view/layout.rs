//! Where each part of the screen goes. A pure function of the app's size and state, shared by
//! the renderer and by the mouse handler (which must know what was under the pointer).

use ratatui::layout::Rect;

use crate::app::{App, Link, Screen};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The disconnected banner, when not connected.
    pub banner: Option<Rect>,
    pub header: Rect,
    /// The worker table, or the detail card.
    pub main: Rect,
    pub logs: Rect,
    pub hints: Rect,
}

/// Header lines: two of text and the sparkline, which goes first when space is short.
const HEADER_FULL: u16 = 3;
const HEADER_SHORT: u16 = 2;
/// Below this height the sparkline row is dropped.
const SPARKLINE_MIN_HEIGHT: u16 = 20;
/// The log pane never gets fewer rows than this (borders included) when it fits at all.
const LOGS_MIN: u16 = 5;

pub fn areas(app: &App) -> Areas {
    let (width, height) = app.size;
    let mut rows = Rows {
        y: 0,
        width,
        height,
    };
    let banner = (!matches!(app.link, Link::Connected(_))).then(|| rows.take(1));
    let header = rows.take(if height >= SPARKLINE_MIN_HEIGHT {
        HEADER_FULL
    } else {
        HEADER_SHORT
    });
    let body_height = height.saturating_sub(rows.y).saturating_sub(1);
    let main_height = match app.screen {
        // All rows plus borders and the column titles, capped so the logs keep some room.
        Screen::Table => {
            let workers = app.shown().rows.len().max(1) as u16;
            (workers + 3).min(
                body_height
                    .saturating_sub(LOGS_MIN)
                    .max(body_height * 3 / 5),
            )
        }
        Screen::Detail(_) => body_height * 2 / 3,
    };
    let main = rows.take(main_height);
    let logs = rows.take(body_height.saturating_sub(main_height));
    let hints = rows.take(1);
    Areas {
        banner,
        header,
        main,
        logs,
        hints,
    }
}

/// Hands out full-width bands from the top of the screen, never past its bottom.
struct Rows {
    y: u16,
    width: u16,
    height: u16,
}

impl Rows {
    fn take(&mut self, rows: u16) -> Rect {
        let rows = rows.min(self.height.saturating_sub(self.y));
        let band = Rect::new(0, self.y, self.width, rows);
        self.y += rows;
        band
    }
}

/// Screen row of the first worker row: under the table's top border and column titles.
pub fn table_first_row_y(table: Rect) -> u16 {
    table.y + 2
}

/// Worker rows that fit in the table.
pub fn table_visible_rows(table: Rect) -> usize {
    usize::from(table.height.saturating_sub(3))
}

/// The first row shown: scrolled just enough to keep the selection visible. Recomputed from
/// the selection each frame, so the renderer and the mouse handler always agree.
pub fn table_offset(selected_index: usize, visible: usize) -> usize {
    (selected_index + 1).saturating_sub(visible.max(1))
}
