//! `--dump-signal`: a signal name (`SIGRTMIN+2`, `RTMIN+2`, `SIGPWR`, `USR2`) or number, checked
//! against the signals the master and the workers already own (`reference/gunicorn.md` §3).

/// The default dump signal: a real-time signal nobody else uses (DESIGN §6).
pub const DEFAULT_DUMP_SIGNAL: &str = "SIGRTMIN+2";

/// The signal a worker's watchdog sends its own main thread to interrupt a request past
/// `--request-timeout`. Not SIGALRM: apps use `signal.alarm` for their own timeouts.
pub fn request_timeout_signal() -> i32 {
    libc::SIGRTMIN() + 3
}

/// Signals with a fixed meaning in Gunicorn's master or workers, or that cannot be caught.
const TAKEN: [i32; 14] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGUSR1,
    libc::SIGWINCH,
    libc::SIGCHLD,
    libc::SIGABRT,
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGPIPE,
    libc::SIGSEGV,
];

/// Parse a dump signal; `Err` says why it cannot be one.
pub fn parse_dump_signal(text: &str) -> Result<i32, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let signum = if let Ok(n) = name.parse::<i32>() {
        n
    } else if let Some(rest) = name.strip_prefix("RTMIN") {
        let offset = match rest.strip_prefix('+') {
            Some(n) => n
                .parse::<i32>()
                .map_err(|_| "bad RTMIN offset".to_string())?,
            None if rest.is_empty() => 0,
            None => return Err("expected SIGRTMIN+N".into()),
        };
        libc::SIGRTMIN() + offset
    } else {
        let full = format!("SIG{name}");
        let sig: nix::sys::signal::Signal =
            full.parse().map_err(|_| "unknown signal".to_string())?;
        sig as i32
    };
    if !(1..=libc::SIGRTMAX()).contains(&signum) {
        return Err("no such signal".into());
    }
    if TAKEN.contains(&signum) || signum == request_timeout_signal() {
        return Err("that signal already has a meaning in gunicorn-rs".into());
    }
    Ok(signum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let rt = libc::SIGRTMIN();
        assert_eq!(parse_dump_signal(DEFAULT_DUMP_SIGNAL), Ok(rt + 2));
        assert_eq!(parse_dump_signal("rtmin+4"), Ok(rt + 4));
        assert_eq!(parse_dump_signal("SIGPWR"), Ok(libc::SIGPWR));
        assert_eq!(parse_dump_signal("usr2"), Ok(libc::SIGUSR2));
        assert_eq!(parse_dump_signal(&rt.to_string()), Ok(rt));
    }

    #[test]
    fn refuses_taken_and_unknown_signals() {
        for bad in [
            "SIGTERM",
            "HUP",
            "9",
            "SIGRTMIN+3",
            "SIGNOPE",
            "RTMIN+x",
            "0",
            "500",
        ] {
            assert!(parse_dump_signal(bad).is_err(), "{bad}");
        }
    }
}
