//! Rendering only: every function here takes `&App` and draws into a frame; none changes state
//! (aesthetics.md §6: "event → app.update(event) → terminal.draw(|f| view::render(f, &app))").

mod detail;
pub mod fmt;
mod header;
mod hints;
pub mod layout;
mod logs;
mod overlay;
pub mod style;
pub mod table;

#[cfg(test)]
mod tests;

use ratatui::Frame;

use crate::app::{App, Modal, Screen};
use style::Theme;

/// Draws the whole screen for the app's current state.
pub fn render(frame: &mut Frame, app: &App) {
    let areas = layout::areas(app);
    let theme = Theme { color: app.color };
    if let Some(banner) = areas.banner {
        header::render_banner(frame, banner, app, theme);
    }
    header::render(frame, areas.header, app, theme);
    match app.screen {
        Screen::Table => table::render(frame, areas.main, app, theme),
        Screen::Detail(slot) => detail::render(frame, areas.main, app, slot, theme),
    }
    logs::render(frame, areas.logs, app, theme);
    hints::render(frame, areas.hints, app, theme);
    match &app.modal {
        Modal::None | Modal::Search(_) => {}
        Modal::Help => overlay::render_help(frame, frame.area(), theme),
        Modal::Confirm(confirm) => overlay::render_confirm(frame, frame.area(), *confirm, theme),
    }
}
