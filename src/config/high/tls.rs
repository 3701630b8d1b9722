//! The SSL settings of the high stage (Gunicorn's `certfile`, `keyfile`, `ca_certs`,
//! `cert_reqs`, `ssl_version`, `ciphers`, `suppress_ragged_eofs`), checked once here.

use std::path::Path;

use super::super::resolved::{invalid, setting, Resolved};
use super::super::value::absolute;
use super::super::{ClientCerts, ConfigError, TlsSettings, TlsVersions};
use super::{flag, int, string};

/// The SSL settings: TLS when `certfile` (or `keyfile`: Gunicorn's `is_ssl`) is set.
pub(super) fn tls(r: &Resolved, chdir: &Path) -> Result<Option<TlsSettings>, ConfigError> {
    let file = |name: &str| string(r, name).map(|p| absolute(chdir, Path::new(p)));
    let (certfile, keyfile) = match (file("certfile"), file("keyfile")) {
        (None, None) => return Ok(None),
        (Some(cert), key) => (cert, key),
        (None, Some(_)) => {
            return Err(invalid(
                setting("keyfile"),
                string(r, "keyfile").unwrap_or_default(),
                "a key without a certificate: set certfile too".into(),
            ))
        }
    };
    let cert_reqs = match int(r, "cert_reqs") {
        0 => ClientCerts::None,
        1 => ClientCerts::Optional,
        2 => ClientCerts::Required,
        other => {
            let why = "0 (none), 1 (optional) or 2 (required)".into();
            return Err(invalid(setting("cert_reqs"), &other.to_string(), why));
        }
    };
    let ca_certs = file("ca_certs");
    if cert_reqs != ClientCerts::None && ca_certs.is_none() {
        let why = "client certificates are checked against ca_certs: set it too".into();
        return Err(invalid(
            setting("cert_reqs"),
            &int(r, "cert_reqs").to_string(),
            why,
        ));
    }
    Ok(Some(TlsSettings {
        certfile,
        keyfile,
        ca_certs,
        cert_reqs,
        versions: tls_versions(int(r, "ssl_version"))?,
        ciphers: string(r, "ciphers").map(String::from),
        suppress_ragged_eofs: flag(r, "suppress_ragged_eofs"),
    }))
}

/// `ssl_version`, Python's `ssl.PROTOCOL_*` numbers: 2 (`PROTOCOL_TLS`, the default) and 16/17
/// (`PROTOCOL_TLS_CLIENT`/`_SERVER`) allow every version rustls has (1.2, 1.3); 5
/// (`PROTOCOL_TLSv1_2`) only 1.2. SSLv2/3, TLS 1.0 and 1.1 are refused: rustls never speaks
/// them (RFC 8996 deprecates TLS 1.0 and 1.1).
fn tls_versions(value: i64) -> Result<TlsVersions, ConfigError> {
    match value {
        2 | 16 | 17 => Ok(TlsVersions::Tls12And13),
        5 => Ok(TlsVersions::Tls12Only),
        other => Err(invalid(
            setting("ssl_version"),
            &other.to_string(),
            "TLS 1.0, 1.1 and SSL are not offered (RFC 8996): use 2 (TLS 1.2 and 1.3) or 5 \
             (TLS 1.2 only)"
                .into(),
        )),
    }
}
