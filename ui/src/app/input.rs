//! Keys and mouse: the modal layer first (help, confirm, search prompt), then the named
//! actions of the keymap. Every function returns the effects; none performs them.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};

use super::keymap::{action_for, Action};
use super::logs::{LogFilter, LogPosition};
use super::{App, Confirm, Effect, Modal, Screen};
use crate::protocol::{Command, DumpTarget, KillSignal, ShutdownMode, WorkerState};
use crate::view::layout;

/// Lines the wheel scrolls the log pane.
const WHEEL_LINES: isize = 3;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        match &self.modal {
            Modal::Help => {
                // Any key closes help; `q` should not quit from inside it by surprise.
                self.modal = Modal::None;
                Vec::new()
            }
            Modal::Confirm(confirm) => {
                let confirm = *confirm;
                self.modal = Modal::None;
                match key.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                        self.confirmed(confirm)
                    }
                    _ => Vec::new(),
                }
            }
            Modal::Search(_) => {
                self.on_search_key(key);
                Vec::new()
            }
            Modal::None => action_for(&key)
                .map(|a| self.on_action(a))
                .unwrap_or_default(),
        }
    }

    fn on_search_key(&mut self, key: KeyEvent) {
        let Modal::Search(typed) = &mut self.modal else {
            return;
        };
        match key.code {
            KeyCode::Char(c) => typed.push(c),
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Enter => {
                let query = std::mem::take(typed);
                self.modal = Modal::None;
                self.log_view.query = (!query.is_empty()).then_some(query);
                self.log_view.current_match = None;
                self.find(true);
            }
            KeyCode::Esc => self.modal = Modal::None,
            _ => {}
        }
    }

    fn find(&mut self, backwards: bool) {
        let Some(query) = self.log_view.query.clone() else {
            return;
        };
        if !self
            .log_view
            .find(self.logs.lines(self.log_filter), backwards)
        {
            self.set_status(format!("not found: {query}"), true);
        }
    }

    pub(super) fn on_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::Top => self.move_selection(isize::MIN),
            Action::Bottom => self.move_selection(isize::MAX),
            Action::PageUp => self.scroll_logs(-self.log_page()),
            Action::PageDown => self.scroll_logs(self.log_page()),
            Action::Open => self.screen = self.selected.map_or(Screen::Table, Screen::Detail),
            Action::Back => self.back(),
            Action::Freeze => self.toggle_freeze(),
            Action::Help => self.modal = Modal::Help,
            Action::CycleSort => self.sort.key = self.sort.key.next(),
            Action::InvertSort => self.sort.inverted = !self.sort.inverted,
            Action::Search => self.modal = Modal::Search(String::new()),
            Action::NextMatch => self.find(true),
            Action::PrevMatch => self.find(false),
            Action::ToggleFollow => self.toggle_follow(),
            Action::ToggleLogFilter => self.toggle_log_filter(),
            _ => return self.on_command_action(action),
        }
        Vec::new()
    }

    /// The actions that talk to the server.
    fn on_command_action(&mut self, action: Action) -> Vec<Effect> {
        let selected = self.selected_pid();
        let send = |cmd| vec![Effect::Send(cmd)];
        match (action, selected) {
            (Action::AddWorker, _) => send(Command::WorkerAdd(1)),
            (Action::RemoveWorker, _) => send(Command::WorkerRemove(1)),
            (Action::Reload, _) => send(Command::Reload),
            (Action::DumpAll, _) => send(Command::Dump(DumpTarget::All)),
            (Action::StopWorker, Some((_, pid))) => {
                send(Command::WorkerKill(pid, KillSignal::Term))
            }
            (Action::KillWorker, Some((slot, pid))) => {
                self.modal = Modal::Confirm(Confirm::Kill { slot, pid });
                Vec::new()
            }
            (Action::RestartWorker, Some((_, pid))) => send(Command::WorkerRestart(pid)),
            (Action::Dump, Some((slot, pid))) => {
                // The dump lands in the detail view, so go there (tui.md row 22).
                self.history.dump_requested(pid);
                self.screen = Screen::Detail(slot);
                send(Command::Dump(DumpTarget::Pid(pid)))
            }
            (Action::Hold, Some((slot, pid))) => {
                let held = self
                    .workers
                    .rows
                    .get(&slot)
                    .is_some_and(|r| r.info.state == WorkerState::Held);
                send(if held {
                    Command::Release(pid)
                } else {
                    Command::Hold(pid)
                })
            }
            (Action::Quit, _) => self.quit(),
            (Action::Detach, _) => vec![Effect::Detach],
            _ => {
                self.set_status("no worker selected".into(), true);
                Vec::new()
            }
        }
    }

    /// `q`: an owned server is stopped gracefully, after a confirmation if requests are in
    /// flight (they would be cut short at the graceful timeout); an attached one is left alone.
    fn quit(&mut self) -> Vec<Effect> {
        let in_flight = self.workers.in_flight();
        if self.ownership == super::Ownership::Owned && in_flight > 0 {
            self.modal = Modal::Confirm(Confirm::Quit { in_flight });
            return Vec::new();
        }
        self.confirmed(Confirm::Quit { in_flight })
    }

    fn confirmed(&mut self, confirm: Confirm) -> Vec<Effect> {
        match confirm {
            Confirm::Kill { pid, .. } => {
                vec![Effect::Send(Command::WorkerKill(pid, KillSignal::Kill))]
            }
            Confirm::Quit { .. } if self.ownership == super::Ownership::Owned => {
                vec![
                    Effect::Send(Command::Shutdown(ShutdownMode::Graceful)),
                    Effect::Quit,
                ]
            }
            Confirm::Quit { .. } => vec![Effect::Quit],
        }
    }

    fn back(&mut self) {
        match self.screen {
            Screen::Detail(_) => self.screen = Screen::Table,
            Screen::Table => {
                self.log_filter = LogFilter::All;
                self.log_view.current_match = None;
            }
        }
    }

    /// The slots of the worker rows, top to bottom, as the table shows them.
    fn display_order(&self) -> Vec<u32> {
        let rows = self.sort.order(self.shown());
        rows.iter().map(|r| r.info.slot).collect()
    }

    /// Moves the selection through the rows in display order; selecting filters the logs.
    fn move_selection(&mut self, delta: isize) {
        let order = self.display_order();
        if order.is_empty() {
            return;
        }
        let current = self
            .selected
            .and_then(|s| order.iter().position(|o| *o == s))
            .unwrap_or(0);
        let target = current.saturating_add_signed(delta).min(order.len() - 1);
        self.select(order[target]);
    }

    pub(super) fn select(&mut self, slot: u32) {
        self.selected = Some(slot);
        self.log_filter = LogFilter::Slot(slot);
        self.log_view.current_match = None;
        if let Screen::Detail(_) = self.screen {
            self.screen = Screen::Detail(slot);
        }
    }

    fn toggle_freeze(&mut self) {
        self.frozen = match self.frozen {
            Some(_) => None,
            None => Some(Box::new(self.workers.clone())),
        };
    }

    fn toggle_follow(&mut self) {
        self.log_view.position = match self.log_view.position {
            LogPosition::Follow => match self.logs.lines(self.log_filter).back() {
                Some(last) => LogPosition::Pinned(last.seq),
                None => LogPosition::Follow,
            },
            LogPosition::Pinned(_) => LogPosition::Follow,
        };
    }

    fn toggle_log_filter(&mut self) {
        self.log_filter = match (self.log_filter, self.selected) {
            (LogFilter::All, Some(slot)) => LogFilter::Slot(slot),
            _ => LogFilter::All,
        };
    }

    fn scroll_logs(&mut self, delta: isize) {
        self.log_view
            .scroll(self.logs.lines(self.log_filter), delta);
    }

    fn log_page(&self) -> isize {
        let areas = layout::areas(self);
        areas.logs.height.saturating_sub(2).max(1) as isize
    }

    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        let areas = layout::areas(self);
        let at = ratatui::layout::Position::new(mouse.column, mouse.row);
        let in_table = self.screen == Screen::Table && areas.main.contains(at);
        match mouse.kind {
            MouseEventKind::ScrollUp if areas.logs.contains(at) => self.scroll_logs(-WHEEL_LINES),
            MouseEventKind::ScrollDown if areas.logs.contains(at) => self.scroll_logs(WHEEL_LINES),
            MouseEventKind::ScrollUp if in_table => self.move_selection(-1),
            MouseEventKind::ScrollDown if in_table => self.move_selection(1),
            MouseEventKind::Down(MouseButton::Left) if in_table => {
                self.click_row(areas.main, mouse.row)
            }
            _ => {}
        }
    }

    fn click_row(&mut self, table: ratatui::layout::Rect, y: u16) {
        let order = self.display_order();
        let selected = self
            .selected
            .and_then(|s| order.iter().position(|o| *o == s))
            .unwrap_or(0);
        let offset = layout::table_offset(selected, layout::table_visible_rows(table));
        let Some(row) = y.checked_sub(layout::table_first_row_y(table)) else {
            return;
        };
        if let Some(slot) = order.get(offset + usize::from(row)) {
            self.select(*slot);
        }
    }
}
