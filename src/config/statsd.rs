//! `statsd_host`, `statsd_prefix`, `dogstatsd_tags`: read as Gunicorn 27 reads them
//! (`validate_statsd_address` and `util.parse_address` in `gunicorn/config.py` and
//! `gunicorn/util.py`; the prefix rule of `gunicorn/instrument/statsd.py`), into settings the
//! emitter (`crate::statsd`) uses as they are. No socket is made here.

use std::path::{Path, PathBuf};

use super::resolved::{invalid, setting};
use super::value::absolute;
use super::ConfigError;

/// Gunicorn's default statsd port (`parse_address(val, default_port='8125')`).
pub const DEFAULT_PORT: u16 = 8125;

/// Longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
const MAX_UNIX_PATH: usize = 107;

/// Where the datagrams go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsdTarget {
    /// `HOST[:PORT]`, `[V6][:PORT]`: UDP, the name resolved once when the emitter starts.
    Udp { host: String, port: u16 },
    /// `unix:PATH` or `unix://PATH`: a Unix datagram socket (absolute against `chdir`).
    Unix(PathBuf),
}

/// The statsd settings, ready to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsdSettings {
    pub target: StatsdTarget,
    /// `statsd_prefix` with its one trailing dot (`""` when none was given).
    pub prefix: String,
    /// `dogstatsd_tags` as given (`tag1:value1,tag2:value2`), appended as `|#TAGS`.
    pub tags: String,
}

/// The three settings; `None` when `statsd_host` is unset (statsd off, Gunicorn's default).
pub fn settings(
    host: Option<&str>,
    prefix: &str,
    tags: &str,
    chdir: &Path,
) -> Result<Option<StatsdSettings>, ConfigError> {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let target =
        target(host, chdir).map_err(|why| invalid(setting("statsd_host"), host, why.into()))?;
    // A byte outside printable ASCII would split or corrupt the datagram (Gunicorn encodes
    // them as ASCII and logs a failure on every send instead).
    let printable = |s: &str| s.bytes().all(|b| (0x21..0x7f).contains(&b));
    if !printable(prefix) || prefix.contains([':', '|']) {
        let why = "printable ASCII without ':' or '|' (they delimit the statsd line)";
        return Err(invalid(setting("statsd_prefix"), prefix, why.into()));
    }
    if !printable(tags) || tags.contains('|') {
        let why = "printable ASCII tags without '|', e.g. tag1:value1,tag2:value2";
        return Err(invalid(setting("dogstatsd_tags"), tags, why.into()));
    }
    Ok(Some(StatsdSettings {
        target,
        prefix: with_trailing_dot(prefix),
        tags: tags.to_string(),
    }))
}

/// Gunicorn's address rules for `statsd_host`: `unix:PATH`/`unix://PATH` is a Unix socket,
/// except `unix:DIGITS`, which Gunicorn keeps reading as the host `unix` on port DIGITS (its
/// guard against a regression of release 20); `tcp://` is dropped; `[V6]:PORT`; `HOST:PORT`;
/// a port left out is 8125.
fn target(value: &str, chdir: &Path) -> Result<StatsdTarget, &'static str> {
    if let Some(digits) = value.strip_prefix("unix:") {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(StatsdTarget::Udp {
                host: "unix".into(),
                port: port(digits)?,
            });
        }
    }
    if let Some(path) = value
        .strip_prefix("unix://")
        .or_else(|| value.strip_prefix("unix:"))
    {
        let path = absolute(chdir, Path::new(path));
        if value.ends_with(':') || value.ends_with("//") || path.as_os_str().len() > MAX_UNIX_PATH {
            return Err("the unix socket path is empty or longer than 107 bytes");
        }
        return Ok(StatsdTarget::Unix(path));
    }
    if value.starts_with("fd://") {
        return Err("statsd sends to HOST:PORT or unix://PATH, not to a descriptor");
    }
    let rest = value.strip_prefix("tcp://").unwrap_or(value);
    let (host, port_text) =
        super::split_host_port(rest).ok_or("an IPv6 address is [ADDR] or [ADDR]:PORT")?;
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err("Value must be one of ('host:port', 'unix://PATH')");
    }
    Ok(StatsdTarget::Udp {
        host: host.to_ascii_lowercase(),
        port: port_text.map_or(Ok(DEFAULT_PORT), port)?,
    })
}

fn port(text: &str) -> Result<u16, &'static str> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err("the port is a number from 1 to 65535"),
        Ok(port) => Ok(port),
    }
}

/// "a trailing `.` is added, if not provided" (Gunicorn's documentation of `statsd_prefix`):
/// `app`, `app.` and `app..` all become `app.`. Gunicorn's own regex misses a one-character
/// prefix (`a` stays `a`, giving `agunicorn.requests`); the documented rule is kept instead.
fn with_trailing_dot(prefix: &str) -> String {
    match prefix.trim_end_matches('.') {
        "" => String::new(),
        name => format!("{name}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(host: &str, port: u16) -> StatsdTarget {
        StatsdTarget::Udp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn addresses_read_as_gunicorn_reads_them() {
        let dir = Path::new("/srv/app");
        let ok = |v: &str| target(v, dir).unwrap();
        assert_eq!(ok("localhost:9125"), udp("localhost", 9125));
        assert_eq!(ok("StatsD.example"), udp("statsd.example", 8125));
        assert_eq!(ok("tcp://10.0.0.1:8126"), udp("10.0.0.1", 8126));
        assert_eq!(ok("[::1]:8126"), udp("::1", 8126));
        assert_eq!(ok("[::1]"), udp("::1", 8125));
        assert_eq!(ok("unix:1234"), udp("unix", 1234));
        assert_eq!(
            ok("unix:///run/statsd.sock"),
            StatsdTarget::Unix("/run/statsd.sock".into())
        );
        assert_eq!(
            ok("unix:statsd.sock"),
            StatsdTarget::Unix("/srv/app/statsd.sock".into())
        );
        for bad in [
            "host:",
            "host:port",
            "host:70000",
            "host:0",
            "fd://3",
            "[::1",
            "[::1]8125",
            ":8125",
        ] {
            assert!(target(bad, dir).is_err(), "{bad} accepted");
        }
        assert!(target("unix:", dir).is_err());
        assert!(target("unix://", dir).is_err());
        let long = format!("unix:/{}", "x".repeat(120));
        assert!(target(&long, dir).is_err());
    }

    #[test]
    fn prefix_gets_one_trailing_dot() {
        assert_eq!(with_trailing_dot(""), "");
        assert_eq!(with_trailing_dot("app"), "app.");
        assert_eq!(with_trailing_dot("app.."), "app.");
        assert_eq!(with_trailing_dot("a.b"), "a.b.");
        assert_eq!(with_trailing_dot("a"), "a.");
    }

    #[test]
    fn bad_prefix_and_tags_are_config_errors() {
        let dir = Path::new("/");
        let host = Some("localhost");
        assert!(settings(host, "a|b", "", dir).is_err());
        assert!(settings(host, "", "env:prod\n", dir).is_err());
        assert!(settings(host, "", "é", dir).is_err());
        assert!(settings(None, "a|b", "", dir).unwrap().is_none());
        let s = settings(host, "web", "env:prod,team:x", dir)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.prefix.as_str(), s.tags.as_str()),
            ("web.", "env:prod,team:x")
        );
    }
}
