//! Keys to named actions (reference/tui.md Appendix A). Pure: no state, so every binding is one
//! line of a test. Naming every action is what lets a keymap file remap them later.
//!
//! Which key does what also depends on the mode (a dialog, the search prompt); those modes read
//! raw keys in `app.rs` and only the normal mode goes through [`action_for`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything a key can ask for in the table or detail view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Back,
    AddWorker,
    RemoveWorker,
    /// `x`: SIGTERM, the master respawns.
    StopWorker,
    /// `X`: SIGKILL, after a confirmation.
    KillWorker,
    /// `r`: a replacement first, then the old one retires.
    RestartWorker,
    /// `R`: graceful rolling reload of every worker (HUP).
    Reload,
    Dump,
    DumpAll,
    Hold,
    Freeze,
    Help,
    CycleSort,
    InvertSort,
    Search,
    NextMatch,
    PrevMatch,
    ToggleFollow,
    /// `a`: the log pane shows every worker, or only the selected one.
    ToggleLogFilter,
    /// `q`: stop the server (when the dashboard launched it) and quit.
    Quit,
    /// `Q`: leave the server running and quit.
    Detach,
}

/// The normal-mode binding of a key, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        // Ctrl-C means quit in every terminal program; it gets the same confirmation as `q`.
        return match key.code {
            KeyCode::Char('c') => Some(Action::Quit),
            KeyCode::Char('f') => Some(Action::PageDown),
            KeyCode::Char('b') => Some(Action::PageUp),
            _ => None,
        };
    }
    let action = match key.code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Enter => Action::Open,
        KeyCode::Esc | KeyCode::Backspace => Action::Back,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::AddWorker,
        KeyCode::Char('-') => Action::RemoveWorker,
        KeyCode::Char('x') => Action::StopWorker,
        // F9 is htop's and bottom's kill key.
        KeyCode::Char('X') | KeyCode::F(9) => Action::KillWorker,
        KeyCode::Char('r') => Action::RestartWorker,
        KeyCode::Char('R') => Action::Reload,
        KeyCode::Char('d') => Action::Dump,
        KeyCode::Char('D') => Action::DumpAll,
        KeyCode::Char('H') => Action::Hold,
        KeyCode::Char(' ') => Action::Freeze,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('I') => Action::InvertSort,
        KeyCode::Char('/') => Action::Search,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PrevMatch,
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('a') => Action::ToggleLogFilter,
        KeyCode::Char('q') | KeyCode::F(10) => Action::Quit,
        KeyCode::Char('Q') => Action::Detach,
        _ => return None,
    };
    Some(action)
}

/// The help overlay's table: (keys, what they do), in the order shown.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "select a worker"),
    ("g G", "first / last worker"),
    ("Enter", "worker detail: request, stack dump, post-mortem"),
    ("Esc", "back; show every worker's logs"),
    ("+ -", "add / remove a worker"),
    ("x", "stop the worker (TERM; the master respawns it)"),
    ("X  F9", "kill the worker (KILL; asks first)"),
    ("r", "replace the worker (new one up first)"),
    ("R", "graceful rolling reload of all workers"),
    ("d D", "dump Python stacks: selected / all workers"),
    ("H", "hold: no timeout kill for this worker / release"),
    ("s I", "cycle the sort / invert it"),
    ("a", "logs: every worker / the selected one"),
    ("/ n N", "search the logs, next / previous match"),
    ("f  PgUp PgDn", "follow the log tail / scroll the logs"),
    ("space", "freeze the display (data keeps coming)"),
    ("?  F1", "this help"),
    ("q  F10", "quit; stops a server this dashboard started"),
    ("Q", "detach: quit, leave the server running"),
];
