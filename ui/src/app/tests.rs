//! `update()` without a terminal: keys → state → effects.

use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};

use super::*;
use crate::protocol::{DumpTarget, KillSignal, ShutdownMode};
use crate::testing::*;

fn played(source: FakeSource) -> App {
    let mut app = app(80, 24);
    source.play(&mut app);
    app
}

fn order(app: &App) -> Vec<u32> {
    app.sort
        .order(app.shown())
        .iter()
        .map(|r| r.info.slot)
        .collect()
}

#[test]
fn stalled_first_is_the_default_sort_and_s_i_change_it() {
    let mut app = played(scenario_stuck());
    assert_eq!(order(&app), [2, 1, 0, 3]);
    app.update(key('s'));
    assert_eq!(app.sort.key, SortKey::Slot);
    assert_eq!(order(&app), [0, 1, 2, 3]);
    app.update(key('I'));
    assert_eq!(order(&app), [3, 2, 1, 0]);
}

#[test]
fn selection_follows_the_slot_across_respawns_and_filters_logs() {
    let mut app = played(scenario_stuck());
    assert_eq!(
        app.selected,
        Some(0),
        "the first row when the table first loaded"
    );
    app.update(key('g'));
    assert_eq!(app.selected, Some(2), "g: the top row, the stuck worker");
    app.update(key('j'));
    assert_eq!(app.selected, Some(1));
    assert_eq!(app.log_filter, LogFilter::Slot(1));
    app.update(key('k'));
    app.update(key('G'));
    assert_eq!(app.selected, Some(3));
    app.update(key('g'));
    assert_eq!(app.selected, Some(2));
    // The dead worker's replacement keeps slot 2 and the selection.
    scenario_after_death().play(&mut app);
    assert_eq!(app.selected, Some(2));
    assert_eq!(app.selected_pid(), Some((2, 4105)));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.log_filter, LogFilter::All);
}

/// Slot 2's worker was replaced by pid 4105.
fn scenario_after_death() -> FakeSource {
    let workers = vec![
        idle(0, 4101, 1),
        idle(1, 4102, 1),
        idle(2, 4105, 1),
        idle(3, 4104, 1),
    ];
    FakeSource::default().at(8, snapshot(600, workers))
}

#[test]
fn worker_keys_send_commands_for_the_selected_pid() {
    let mut app = played(scenario_stuck());
    app.update(key('g'));
    assert_eq!(
        app.update(key('x')),
        [Effect::Send(Command::WorkerKill(4103, KillSignal::Term))]
    );
    assert_eq!(
        app.update(key('r')),
        [Effect::Send(Command::WorkerRestart(4103))]
    );
    assert_eq!(app.update(key('+')), [Effect::Send(Command::WorkerAdd(1))]);
    assert_eq!(
        app.update(key('-')),
        [Effect::Send(Command::WorkerRemove(1))]
    );
    assert_eq!(app.update(key('R')), [Effect::Send(Command::Reload)]);
    assert_eq!(
        app.update(key('D')),
        [Effect::Send(Command::Dump(DumpTarget::All))]
    );
    assert_eq!(app.update(key('H')), [Effect::Send(Command::Hold(4103))]);
}

#[test]
fn kill_asks_first() {
    let mut app = played(scenario_stuck());
    app.update(key('g'));
    assert_eq!(app.update(key('X')), []);
    assert_eq!(
        app.modal,
        Modal::Confirm(Confirm::Kill { slot: 2, pid: 4103 })
    );
    assert_eq!(app.update(key('n')), []);
    assert_eq!(app.modal, Modal::None);
    app.update(key('X'));
    assert_eq!(
        app.update(key('y')),
        [Effect::Send(Command::WorkerKill(4103, KillSignal::Kill))]
    );
}

#[test]
fn quit_confirms_only_while_requests_are_in_flight() {
    let mut app = played(scenario_stuck());
    assert_eq!(app.update(key('q')), []);
    assert_eq!(app.modal, Modal::Confirm(Confirm::Quit { in_flight: 2 }));
    assert_eq!(
        app.update(code(KeyCode::Enter)),
        [
            Effect::Send(Command::Shutdown(ShutdownMode::Graceful)),
            Effect::Quit
        ]
    );

    let mut idle_app = played(scenario_idle());
    assert_eq!(
        idle_app.update(key('q')),
        [
            Effect::Send(Command::Shutdown(ShutdownMode::Graceful)),
            Effect::Quit
        ]
    );

    let mut attached = App::new(Ownership::Attached, "s");
    scenario_stuck().play(&mut attached);
    assert_eq!(
        attached.update(key('q')),
        [Effect::Quit],
        "an attached server is left running"
    );
    assert_eq!(attached.update(key('Q')), [Effect::Detach]);
}

#[test]
fn a_gthread_worker_counts_every_busy_thread_in_flight() {
    let mut app = played(scenario_gthread());
    assert!(app.workers.threaded());
    assert_eq!((app.workers.busy(), app.workers.in_flight()), (1, 3));
    app.update(key('q'));
    assert_eq!(app.modal, Modal::Confirm(Confirm::Quit { in_flight: 3 }));
    assert!(
        !played(scenario_stuck()).workers.threaded(),
        "sync stays sync"
    );
}

#[test]
fn dump_opens_the_detail_view_and_shows_the_result() {
    let mut app = played(scenario_stuck());
    app.update(key('g'));
    assert_eq!(
        app.update(key('d')),
        [Effect::Send(Command::Dump(DumpTarget::Pid(4103)))]
    );
    assert_eq!(app.screen, Screen::Detail(2));
    assert!(app.history.is_dumping(4103));
    let data = serde_json::json!({"dumps": [{"pid": 4103, "stack": "File \"x.py\", line 1 in f"}]});
    app.update(Event::Reply {
        command: Command::Dump(DumpTarget::Pid(4103)),
        result: Ok(data),
    });
    assert!(!app.history.is_dumping(4103));
    assert!(app
        .history
        .dump_of(4103)
        .is_some_and(|d| d.stack.contains("x.py")));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Table);
}

#[test]
fn a_death_becomes_a_post_mortem_once() {
    let app = played(scenario_dead());
    let death = app.history.last_death(2).expect("a post-mortem for slot 2");
    assert_eq!(
        (death.pid, death.reason.describe().as_str()),
        (4103, "timeout (SIGKILL)")
    );
    assert_eq!(
        death.last_request.as_ref().map(|r| r.path.as_str()),
        Some("/export/orders.csv")
    );
    assert_eq!(
        app.history.deaths(2).count(),
        1,
        "the event and the snapshot are one death"
    );
    assert_eq!(
        app.logs.tail_of_pid(2, 4103, 5).len(),
        3,
        "the dead worker's lines are kept"
    );
}

#[test]
fn freeze_keeps_the_screen_while_data_arrives() {
    let mut app = played(scenario_idle());
    app.update(key(' '));
    assert!(app.is_frozen());
    scenario_stuck().play(&mut app);
    assert_eq!(app.shown().busy(), 0, "the frozen copy");
    assert_eq!(app.workers.busy(), 2, "the live data");
    app.update(key(' '));
    assert_eq!(app.shown().busy(), 2);
}

#[test]
fn search_jumps_between_matches_and_reports_misses() {
    let mut app = played(scenario_idle());
    for c in "/booting".chars() {
        app.update(key(c));
    }
    assert_eq!(app.modal, Modal::Search("booting".into()));
    app.update(code(KeyCode::Enter));
    let seqs: Vec<u64> = app
        .logs
        .lines(LogFilter::All)
        .iter()
        .map(|e| e.seq)
        .collect();
    let seq_of = |i: usize| seqs[i];
    assert_eq!(
        app.log_view.current_match,
        Some(seq_of(4)),
        "the newest match first"
    );
    app.update(key('n'));
    assert_eq!(app.log_view.current_match, Some(seq_of(3)));
    app.update(key('N'));
    assert_eq!(app.log_view.current_match, Some(seq_of(4)));
    for c in "/nothing-like-this\n".chars() {
        app.update(if c == '\n' {
            code(KeyCode::Enter)
        } else {
            key(c)
        });
    }
    assert!(app
        .status
        .as_ref()
        .is_some_and(|s| s.is_error && s.text.contains("not found")));
}

#[test]
fn follow_mode_pins_and_resumes() {
    let mut app = played(scenario_idle());
    assert_eq!(app.log_view.position, logs::LogPosition::Follow);
    app.update(key('f'));
    assert!(matches!(
        app.log_view.position,
        logs::LogPosition::Pinned(_)
    ));
    app.update(code(KeyCode::PageUp));
    app.update(code(KeyCode::PageDown));
    app.update(code(KeyCode::PageDown));
    assert_eq!(
        app.log_view.position,
        logs::LogPosition::Follow,
        "scrolling to the end follows again"
    );
}

#[test]
fn disconnect_banner_counts_from_the_first_failure() {
    let mut app = played(scenario_idle());
    app.update(Event::Tick(Duration::from_secs(10)));
    app.update(Event::Disconnected("connection reset".into()));
    app.update(Event::Tick(Duration::from_secs(12)));
    app.update(Event::Disconnected("connection refused".into()));
    assert_eq!(
        app.link,
        Link::Disconnected {
            since: Duration::from_secs(10),
            error: "connection reset".into()
        }
    );
    app.update(hello());
    assert!(matches!(app.link, Link::Connected(_)));
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut app = played(scenario_idle());
    app.update(key('?'));
    assert_eq!(app.modal, Modal::Help);
    assert_eq!(app.update(key('q')), [], "q closes help, it does not quit");
    assert_eq!(app.modal, Modal::None);
}

#[test]
fn ticks_ask_for_proc_samples_once_a_second() {
    let mut app = played(scenario_idle());
    let t = app.now;
    let first = app.update(Event::Tick(t + Duration::from_secs(5)));
    assert!(matches!(first.as_slice(), [Effect::SampleProcs(pids)] if pids.len() == 4));
    assert_eq!(app.update(Event::Tick(t + Duration::from_millis(5250))), []);
    app.update(Event::ProcStats(HashMap::from([(
        4101,
        ProcSample {
            cpu_percent: 97.0,
            rss_bytes: 1 << 30,
        },
    )])));
    assert_eq!(app.workers.rows[&0].cpu_percent(), Some(97.0));
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut app = played(scenario_stuck());
    let areas = crate::view::layout::areas(&app);
    let row_y = crate::view::layout::table_first_row_y(areas.main) + 3;
    let click = |kind, row| {
        Event::Mouse(MouseEvent {
            kind,
            column: 5,
            row,
            modifiers: crossterm::event::KeyModifiers::NONE,
        })
    };
    app.update(click(MouseEventKind::Down(MouseButton::Left), row_y));
    assert_eq!(
        app.selected,
        Some(3),
        "the fourth row in stalled-first order"
    );
    app.update(click(MouseEventKind::ScrollUp, row_y));
    assert_eq!(app.selected, Some(0));
    app.update(click(MouseEventKind::ScrollUp, areas.logs.y + 1));
    assert!(matches!(
        app.log_view.position,
        logs::LogPosition::Pinned(_)
    ));
}

#[test]
fn failed_commands_show_their_error() {
    let mut app = played(scenario_idle());
    app.update(Event::Reply {
        command: Command::WorkerAdd(1),
        result: Err("connection lost".into()),
    });
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("worker add: connection lost")
    );
    let gunicorn_style = serde_json::json!({"success": false, "error": "Worker 1 not found"});
    app.update(Event::Reply {
        command: Command::WorkerKill(1, KillSignal::Term),
        result: Ok(gunicorn_style),
    });
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("worker kill: Worker 1 not found")
    );
}

#[test]
fn commands_typed_before_the_socket_is_up_are_sent_when_it_is() {
    let mut app = app(80, 24);
    assert_eq!(app.update(key('+')), [], "held while connecting");
    assert_eq!(app.update(key('-')), []);
    assert_eq!(
        app.update(hello()),
        [
            Effect::Send(Command::WorkerAdd(1)),
            Effect::Send(Command::WorkerRemove(1))
        ],
        "in the order typed"
    );
    assert_eq!(app.update(hello()), [], "once");
    // Refused by a client that lost the connection before its event arrived: sent again later.
    app.update(Event::Reply {
        command: Command::WorkerAdd(1),
        result: Err(NOT_CONNECTED.into()),
    });
    app.update(Event::Disconnected("gone".into()));
    assert_eq!(app.update(key('+')), []);
    assert_eq!(
        app.update(hello()),
        [
            Effect::Send(Command::WorkerAdd(1)),
            Effect::Send(Command::WorkerAdd(1))
        ]
    );
}
