//! `--paste-global`: PasteDeploy's global configuration for a `--paste` app.

use super::{invalid, list, setting, string, ConfigError, Resolved};

/// `raw_paste_global_conf`'s `KEY=VALUE` entries as Gunicorn's `paste_global_conf` splits
/// them: at the first `=` not escaped by a `\`, then each `\=` read as `=`. `None` without
/// `--paste`, where Gunicorn never reads them.
pub(super) fn paste_global_conf(
    r: &Resolved,
) -> Result<Option<Vec<(String, String)>>, ConfigError> {
    if string(r, "paste").is_none_or(str::is_empty) {
        return Ok(None);
    }
    list(r, "raw_paste_global_conf")
        .iter()
        .map(|entry| {
            key_value(entry).ok_or_else(|| {
                let why = "not KEY=VALUE (an `=` in the key is written `\\=`)".to_string();
                invalid(setting("raw_paste_global_conf"), entry, why)
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn key_value(entry: &str) -> Option<(String, String)> {
    let bytes = entry.as_bytes();
    let at = (0..bytes.len()).find(|&i| bytes[i] == b'=' && (i == 0 || bytes[i - 1] != b'\\'))?;
    let unescape = |text: &str| text.replace("\\=", "=");
    Some((unescape(&entry[..at]), unescape(&entry[at + 1..])))
}

#[cfg(test)]
mod tests {
    use super::key_value;

    #[test]
    fn entries_split_at_the_first_unescaped_equals_sign() {
        let pair = |k: &str, v: &str| Some((k.to_string(), v.to_string()));
        assert_eq!(key_value("db=postgres://h/x"), pair("db", "postgres://h/x"));
        assert_eq!(key_value("a=b=c"), pair("a", "b=c"));
        assert_eq!(key_value(r"a\=b=c\=d"), pair("a=b", "c=d"));
        assert_eq!(key_value("=v"), pair("", "v"));
        assert_eq!(key_value("no-equals"), None);
        assert_eq!(key_value(r"only\=escaped"), None);
    }
}
