//! `--ciphers`: an OpenSSL cipher list (what Gunicorn passes to `SSLContext.set_ciphers`)
//! mapped onto rustls's suites. Names with a rustls suite select it; the keywords `DEFAULT`,
//! `ALL`, `HIGH` and `SECURE` select every suite rustls offers (none of them weak); `a+b`
//! terms select the suites with every property named (`ECDHE+AESGCM`); `!x` and `-x` remove
//! what `x` names (excluding what rustls never offers is a no-op); `@STRENGTH`-style commands
//! do not change a set that holds no weak suite. A name that selects nothing rustls has
//! (`AES128-SHA`, any `DHE-` suite) is refused: serving without the suites a user asked for
//! would be a silent downgrade.

use rustls::SupportedCipherSuite;

use super::TlsError;

/// OpenSSL's name for a rustls suite, and the properties `a+b` terms match on.
fn openssl_name(suite: &SupportedCipherSuite) -> (&'static str, &'static [&'static str]) {
    use rustls::CipherSuite as C;
    match suite.suite() {
        C::TLS13_AES_128_GCM_SHA256 => (
            "TLS_AES_128_GCM_SHA256",
            &["TLSv1.3", "AESGCM", "AES128", "AES"],
        ),
        C::TLS13_AES_256_GCM_SHA384 => (
            "TLS_AES_256_GCM_SHA384",
            &["TLSv1.3", "AESGCM", "AES256", "AES"],
        ),
        C::TLS13_CHACHA20_POLY1305_SHA256 => {
            ("TLS_CHACHA20_POLY1305_SHA256", &["TLSv1.3", "CHACHA20"])
        }
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            &[
                "ECDHE", "EECDH", "kEECDH", "ECDSA", "aECDSA", "AESGCM", "AES128", "AES",
            ],
        ),
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            &[
                "ECDHE", "EECDH", "kEECDH", "ECDSA", "aECDSA", "AESGCM", "AES256", "AES",
            ],
        ),
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            &["ECDHE", "EECDH", "kEECDH", "ECDSA", "aECDSA", "CHACHA20"],
        ),
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-RSA-AES128-GCM-SHA256",
            &[
                "ECDHE", "EECDH", "kEECDH", "RSA", "aRSA", "AESGCM", "AES128", "AES",
            ],
        ),
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-RSA-AES256-GCM-SHA384",
            &[
                "ECDHE", "EECDH", "kEECDH", "RSA", "aRSA", "AESGCM", "AES256", "AES",
            ],
        ),
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-RSA-CHACHA20-POLY1305",
            &["ECDHE", "EECDH", "kEECDH", "RSA", "aRSA", "CHACHA20"],
        ),
        _ => ("", &[]),
    }
}

fn is_tls13(suite: &SupportedCipherSuite) -> bool {
    matches!(suite, SupportedCipherSuite::Tls13(_))
}

const EVERYTHING: &[&str] = &["DEFAULT", "ALL", "HIGH", "SECURE", "COMPLEMENTOFDEFAULT"];

/// The suites of `offered` that `term` names (one element of the list, without `!`/`-`/`+`).
fn select(term: &str, offered: &[SupportedCipherSuite]) -> Vec<SupportedCipherSuite> {
    if EVERYTHING.contains(&term) {
        return offered.to_vec();
    }
    let wanted: Vec<&str> = term.split('+').collect();
    offered
        .iter()
        .filter(|suite| {
            let (name, properties) = openssl_name(suite);
            name == term || wanted.iter().all(|w| properties.contains(w))
        })
        .copied()
        .collect()
}

/// The suites `list` asks for, in its order, from `offered`.
pub(super) fn from_openssl_list(
    list: &str,
    offered: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<SupportedCipherSuite> = Vec::new();
    let terms = list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty());
    for term in terms {
        if term.starts_with('@') {
            continue;
        }
        if let Some(excluded) = term.strip_prefix('!').or_else(|| term.strip_prefix('-')) {
            removed.extend(select(excluded, offered));
            continue;
        }
        let term = term.strip_prefix('+').unwrap_or(term);
        let found = select(term, offered);
        if found.is_empty() {
            return Err(TlsError::Cipher(term.to_string()));
        }
        for suite in found {
            if !chosen.iter().any(|c| c.suite() == suite.suite()) {
                chosen.push(suite);
            }
        }
    }
    chosen.retain(|c| !removed.iter().any(|r| r.suite() == c.suite()));
    if chosen.is_empty() {
        return Err(TlsError::NoCipher(list.to_string()));
    }
    // As OpenSSL's cipher list (what `set_ciphers` sets) leaves TLS 1.3's suites alone, a
    // list without any keeps them all.
    if !chosen.iter().any(is_tls13) {
        let tls13: Vec<_> = offered.iter().filter(|s| is_tls13(s)).copied().collect();
        chosen.splice(0..0, tls13);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &str) -> Result<Vec<&'static str>, TlsError> {
        let offered = rustls::crypto::ring::default_provider().cipher_suites;
        Ok(from_openssl_list(list, &offered)?
            .iter()
            .map(|s| openssl_name(s).0)
            .collect())
    }

    #[test]
    fn openssl_names_keywords_and_exclusions_map_to_rustls_suites() {
        let tls12 = |list| {
            let all = names(list).unwrap();
            all.into_iter()
                .filter(|n| !n.starts_with("TLS_"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            tls12("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"),
            ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]
        );
        // TLS 1.3's suites stay, as OpenSSL's cipher list leaves them.
        assert_eq!(names("ECDHE-RSA-AES128-GCM-SHA256").unwrap().len(), 4);
        let all = names("HIGH:!aNULL:!MD5:@STRENGTH").unwrap();
        assert_eq!(all.len(), 9, "{all:?}");
        let gcm = tls12("ECDHE+AESGCM:!ECDSA");
        assert_eq!(
            gcm,
            ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]
        );
        assert_eq!(names("TLS_CHACHA20_POLY1305_SHA256").unwrap().len(), 1);
    }

    #[test]
    fn a_name_without_a_rustls_suite_is_refused_by_name() {
        for (list, name) in [
            ("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", "AES128-SHA"),
            ("DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"),
            ("RC4-MD5", "RC4-MD5"),
        ] {
            match names(list) {
                Err(TlsError::Cipher(n)) => assert_eq!(n, name),
                other => panic!("{list}: {other:?}"),
            }
        }
        assert!(matches!(names("HIGH:!HIGH"), Err(TlsError::NoCipher(_))));
    }
}
