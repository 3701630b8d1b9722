//! A real terminal for the dashboard's end-to-end tests (reference/tui.md §4.3): a private tmux
//! server per test (`-L` unique name, `-f /dev/null` so no user config leaks in), one 120×40
//! pane, `remain-on-exit` so the last screen and the exit line stay readable, `capture-pane`
//! polled with a deadline (never a blind sleep), and `kill-server` on drop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{self, children};

/// Longest wait for one screen state; tests run two at a time on two cores.
pub const SCREEN_WAIT: Duration = Duration::from_secs(30);

/// The environment the pane's command runs without (as `support::Server` scrubs it).
const SCRUBBED: &[&str] = &[
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "PORT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "NO_COLOR",
];

pub struct Tmux {
    name: String,
    /// `XDG_RUNTIME_DIR` of the pane (so socket discovery sees only this test's servers) and
    /// `TEST_MARKER_DIR` of the test apps.
    pub dir: tempfile::TempDir,
}

impl Tmux {
    /// A tmux server whose one pane runs `args` (the program and its arguments), then prints
    /// `[exit N]`.
    pub fn run(args: &[&str]) -> Tmux {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "gunicorn-rs-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-rs-tui-")
            .tempdir()
            .expect("temp dir");
        let tmux = Tmux { name, dir };
        // A placeholder first, so remain-on-exit is on before the real command can exit.
        tmux.ok(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            "main",
            "cat",
        ]);
        tmux.ok(&["set-option", "-g", "remain-on-exit", "on"]);
        let command = tmux.shell_command(args);
        tmux.ok(&["respawn-pane", "-k", "-t", "main", &command]);
        tmux
    }

    fn shell_command(&self, args: &[&str]) -> String {
        let mut words: Vec<String> = vec!["exec".into(), "env".into()];
        for key in SCRUBBED {
            words.extend(["-u".into(), (*key).into()]);
        }
        let dir = self.dir.path().display().to_string();
        words.push(format!("XDG_RUNTIME_DIR={dir}"));
        words.push(format!("TEST_MARKER_DIR={dir}"));
        words.extend(args.iter().map(|a| a.to_string()));
        let quoted = shlex::try_join(words.iter().map(String::as_str)).expect("quotable command");
        // A subshell, so the exit line follows the program's exit (the `exec` is inside it).
        format!(
            "cd {} && ( {quoted} ); echo \"[exit $?]\"",
            shlex::try_quote(&dir).expect("dir")
        )
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        support::output_within(
            Command::new("tmux")
                .args(["-L", &self.name, "-f", "/dev/null"])
                .args(args),
            None,
            SCREEN_WAIT,
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's text now, with the lines scrolled off the top: when the program is gone,
    /// tmux's "Pane is dead" line can scroll a one-line output (`[exit 0]`) out of view. The
    /// alternate screen the dashboard draws on keeps no history, so this adds nothing there.
    pub fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-S", "-", "-t", "main"])
    }

    /// Polls the screen until `check` finds what it wants; fails with the last screen.
    pub fn wait<T>(&self, what: &str, mut check: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen();
            if let Some(v) = check(&screen) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {SCREEN_WAIT:?} waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible screen with its SGR escapes (colours, bold, reverse) kept.
    pub fn screen_with_escapes(&self) -> String {
        self.ok(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait(&format!("{text:?} on screen"), |s| {
            s.contains(text).then(|| s.to_string())
        })
    }

    /// Whether the pane shows the alternate screen (a full-screen program's, not restored).
    pub fn alternate_on(&self) -> bool {
        self.ok(&["display-message", "-p", "-t", "main", "#{alternate_on}"])
            .trim()
            == "1"
    }

    /// Types `keys` literally.
    pub fn keys(&self, keys: &str) {
        self.ok(&["send-keys", "-t", "main", "-l", keys]);
    }

    /// The process the pane runs: `sh`, whose child is our program.
    pub fn program_pid(&self) -> u32 {
        let shell: u32 = self
            .ok(&["display-message", "-p", "-t", "main", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        support::poll(SCREEN_WAIT, "the pane's program", || {
            children(shell).into_iter().next()
        })
    }

    /// `<runtime dir>/gunicorn-rs`: where this test's control sockets are found.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("gunicorn-rs")
    }
}

impl Drop for Tmux {
    /// SIGHUP to the pane's processes: a dashboard exits and its server follows (its lifeline
    /// ends). Even a dashboard held in a ptrace stop goes with the tmux server (tried), so
    /// nothing more is needed here.
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
    }
}

/// The worker table's rows as (slot, pid): lines `│<slot>  <pid>  …`.
pub fn worker_rows(screen: &str) -> Vec<(u32, u32)> {
    screen
        .lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix('│')?.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

pub fn row_pids(screen: &str) -> BTreeSet<u32> {
    worker_rows(screen)
        .into_iter()
        .map(|(_, pid)| pid)
        .collect()
}

/// The line of the table showing `pid`.
pub fn row_of(screen: &str, pid: u32) -> Option<&str> {
    screen.lines().find(|l| {
        let mut words = l.strip_prefix('│').unwrap_or("").split_whitespace();
        words.next().is_some_and(|w| w.parse::<u32>().is_ok())
            && words.next() == Some(pid.to_string().as_str())
    })
}

/// The port in `Listening at: http://127.0.0.1:PORT (pid)` of a `--tui` server's output file.
pub fn tui_port(socket_dir: &Path, dashboard: u32) -> u16 {
    let output = socket_dir
        .join(format!("tui-{dashboard}"))
        .join("output.log");
    support::poll(SCREEN_WAIT, "Listening at: in the server's output", || {
        let text = std::fs::read_to_string(&output).ok()?;
        let line = text.lines().find(|l| l.contains("Listening at: "))?;
        let addr = line.split("Listening at: ").nth(1)?.split(' ').next()?;
        addr.rsplit(':').next()?.parse().ok()
    })
}
