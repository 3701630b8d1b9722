//! Colours and text styles in one place, so `NO_COLOR` (https://no-color.org) is one switch:
//! without colour, states are told apart by their words and by bold/reverse, never by hue alone.
//! Only the 16 basic colours are used, so any terminal palette works.

use ratatui::style::{Color, Modifier, Style};

use crate::protocol::WorkerState;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn state(self, state: WorkerState) -> Style {
        match state {
            WorkerState::Idle | WorkerState::Keepalive => self.fg(Color::Green),
            WorkerState::Booting | WorkerState::Draining => self.fg(Color::Blue),
            WorkerState::Reading | WorkerState::Writing => self.fg(Color::Cyan),
            WorkerState::App => self.fg(Color::Yellow),
            WorkerState::Held | WorkerState::Detached => {
                self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
            }
            WorkerState::TimeoutPending => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            WorkerState::Dead => self.fg(Color::Red).add_modifier(Modifier::DIM),
            WorkerState::Unknown => self.dim(),
        }
    }

    /// Elapsed time and countdown colour: the closer to the timeout kill, the hotter.
    pub fn urgency(self, fraction_of_timeout: f64) -> Style {
        if fraction_of_timeout >= 0.75 {
            self.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else if fraction_of_timeout >= 0.5 {
            self.fg(Color::Yellow)
        } else {
            Style::new()
        }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn label(self) -> Style {
        self.dim()
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn banner(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// A worker's log prefix: one of six colours by slot, so interleaved workers are told apart.
    pub fn slot(self, slot: u32) -> Style {
        const PALETTE: [Color; 6] = [
            Color::Cyan,
            Color::Magenta,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Red,
        ];
        self.fg(PALETTE[slot as usize % PALETTE.len()])
    }
}
