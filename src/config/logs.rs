//! The logging settings that need more than a string: `--log-format`, `--logger-class`, and
//! `--log-syslog` with its settings, read as Gunicorn reads them (`gunicorn/glogging.py`:
//! `SYSLOG_FACILITIES`, `parse_syslog_address`, `_set_syslog_handler`).

use super::resolved::{invalid, setting, Resolved};
use super::value::Value;
use super::{ConfigError, LogFormat};

/// `--log-format`: `text` (the default) or `json`.
pub fn log_format(r: &Resolved) -> LogFormat {
    match r.get("log_format") {
        Value::Str(s) if s == "json" => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// `--logger-class`, unless it names Gunicorn's own logger (the built-in writers).
pub fn logger_class(r: &Resolved) -> Option<String> {
    match r.get("logger_class") {
        Value::Str(s)
            if !matches!(
                s.as_str(),
                "gunicorn.glogging.Logger" | "simple" | "egg:gunicorn#simple"
            ) =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

/// Where syslog messages go (`--log-syslog-to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddr {
    Udp {
        host: String,
        port: u16,
    },
    Tcp {
        host: String,
        port: u16,
    },
    /// `unix://PATH`: a datagram socket when the address ends in `#dgram`; otherwise
    /// datagram first, then stream (Python's `SysLogHandler` with `socktype=None`, which is
    /// what Gunicorn passes for any other suffix, `#stream` included).
    Unix {
        path: String,
        dgram_only: bool,
    },
}

impl std::fmt::Display for SyslogAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogAddr::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            SyslogAddr::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            SyslogAddr::Unix { path, .. } => write!(f, "unix://{path}"),
        }
    }
}

/// What `--log-syslog` sends, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    pub addr: SyslogAddr,
    /// The facility's code (RFC 5424 §6.2.1), e.g. 1 for `user`.
    pub facility: u8,
    /// The program-name part of the tag: `syslog_prefix`, else `proc_name` with `:` as `.`.
    pub prefix: String,
    /// Access lines too (unless `--disable-redirect-access-to-syslog`).
    pub access: bool,
}

/// Gunicorn's `SYSLOG_FACILITIES` (names are matched lower-cased).
const FACILITIES: &[(&str, u8)] = &[
    ("auth", 4),
    ("authpriv", 10),
    ("cron", 9),
    ("daemon", 3),
    ("ftp", 11),
    ("kern", 0),
    ("lpr", 6),
    ("mail", 2),
    ("news", 7),
    ("security", 4),
    ("syslog", 5),
    ("user", 1),
    ("uucp", 8),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// The syslog settings when `syslog` is on; `proc_name` is the server's (for the prefix).
/// The facility and address are checked only then, as Gunicorn checks them in its setup.
pub fn syslog(r: &Resolved, proc_name: &str) -> Result<Option<SyslogSettings>, ConfigError> {
    if !matches!(r.get("syslog"), Value::Bool(true)) {
        return Ok(None);
    }
    let text = |name: &str| match r.get(name) {
        Value::Str(s) => Some(s.as_str()),
        _ => None,
    };
    let name = text("syslog_facility").unwrap_or("user");
    let facility = FACILITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, code)| code)
        .ok_or_else(|| {
            invalid(
                setting("syslog_facility"),
                name,
                "unknown facility name".into(),
            )
        })?;
    let addr_text = text("syslog_addr").unwrap_or("udp://localhost:514");
    let addr = parse_addr(addr_text)
        .map_err(|reason| invalid(setting("syslog_addr"), addr_text, reason))?;
    let prefix = text("syslog_prefix")
        .filter(|p| !p.is_empty())
        .map_or_else(|| proc_name.replace(':', "."), String::from);
    Ok(Some(SyslogSettings {
        addr,
        facility,
        prefix,
        access: !matches!(
            r.get("disable_redirect_access_to_syslog"),
            Value::Bool(true)
        ),
    }))
}

/// Gunicorn's `parse_syslog_address`: `unix://PATH[#dgram|#stream]`, `udp://HOST[:PORT]`,
/// `tcp://HOST[:PORT]` (`[v6]` hosts; an empty host is `localhost`; port 514 by default).
pub fn parse_addr(addr: &str) -> Result<SyslogAddr, String> {
    if let Some(rest) = addr.strip_prefix("unix://") {
        let (path, suffix) = rest.split_once('#').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err("no socket path".into());
        }
        return Ok(SyslogAddr::Unix {
            path: path.into(),
            dgram_only: suffix == "dgram",
        });
    }
    let (rest, udp) = match (addr.strip_prefix("udp://"), addr.strip_prefix("tcp://")) {
        (Some(rest), _) => (rest, true),
        (_, Some(rest)) => (rest, false),
        _ => return Err("invalid syslog address".into()),
    };
    let host = if let (Some(0), Some(close)) = (rest.find('['), rest.find(']')) {
        rest[1..close].to_lowercase()
    } else {
        match rest.split(':').next() {
            Some("") | None => "localhost".into(),
            Some(host) => host.to_lowercase(),
        }
    };
    let after_host = rest.rsplit(']').next().unwrap_or(rest);
    let port = match after_host.split_once(':') {
        Some((_, port)) => port
            .parse::<u16>()
            .map_err(|_| format!("{port:?} is not a valid port number."))?,
        None => 514,
    };
    Ok(match udp {
        true => SyslogAddr::Udp { host, port },
        false => SyslogAddr::Tcp { host, port },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_gunicorn_parses_them() {
        let udp = |host: &str, port| SyslogAddr::Udp {
            host: host.into(),
            port,
        };
        assert_eq!(parse_addr("udp://localhost:514"), Ok(udp("localhost", 514)));
        assert_eq!(parse_addr("udp://Example.org"), Ok(udp("example.org", 514)));
        assert_eq!(parse_addr("udp://:5140"), Ok(udp("localhost", 5140)));
        assert_eq!(parse_addr("udp://[::1]:5140"), Ok(udp("::1", 5140)));
        assert_eq!(
            parse_addr("tcp://10.0.0.1:601"),
            Ok(SyslogAddr::Tcp {
                host: "10.0.0.1".into(),
                port: 601
            })
        );
        let unix = |path: &str, dgram_only| SyslogAddr::Unix {
            path: path.into(),
            dgram_only,
        };
        assert_eq!(parse_addr("unix:///dev/log"), Ok(unix("/dev/log", false)));
        assert_eq!(
            parse_addr("unix:///dev/log#dgram"),
            Ok(unix("/dev/log", true))
        );
        assert_eq!(
            parse_addr("unix:///dev/log#stream"),
            Ok(unix("/dev/log", false))
        );
        assert!(parse_addr("udp://host:port").is_err());
        assert!(parse_addr("localhost:514").is_err());
        assert!(parse_addr("unix://").is_err());
    }
}
