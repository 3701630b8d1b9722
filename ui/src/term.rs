//! The terminal's lifecycle: raw mode, the alternate screen and mouse capture on entry, all
//! undone on every exit — normal return, `?` error, and panic (a panic hook restores the
//! terminal before the message prints, or the message would be lost in the alternate screen and
//! the shell left in raw mode; bottom's `panic_hook`, tokio-console's `OnShutdown`).

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the dashboard runs; restores it when dropped.
pub struct TermGuard {
    pub terminal: Tui,
}

impl TermGuard {
    pub fn enter(mouse: bool) -> io::Result<TermGuard> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        // From here on, a failure must still restore what was already changed.
        let setup = || -> io::Result<Tui> {
            execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
            if mouse {
                execute!(io::stdout(), EnableMouseCapture)?;
            }
            Terminal::new(CrosstermBackend::new(io::stdout()))
        };
        match setup() {
            Ok(terminal) => Ok(TermGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back. Safe to call twice (the panic hook and then the guard's drop).
pub fn restore() {
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
