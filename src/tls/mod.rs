//! TLS with rustls (`--certfile` and Gunicorn's other SSL settings): the files read and
//! checked, and the rustls server configuration every worker's connections use. Loaded in the
//! master before anything is bound (a missing or unreadable file, a key that does not match
//! the certificate: one line and the config-error exit code) and again on each HUP (a bad new
//! certificate keeps the running one, see `master::reload`). No OpenSSL, no threads.

mod ciphers;
mod tickets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientCerts, TlsSettings, TlsVersions};

/// Why TLS cannot be set up; each is one line.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {error}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        error: String,
    },
    #[error("no certificate in certfile {0}")]
    NoCertificate(PathBuf),
    #[error("no private key in {0}")]
    NoKey(PathBuf),
    #[error("the private key does not match the certificate in {0}")]
    KeyMismatch(PathBuf),
    #[error("ciphers: '{0}' names no cipher suite rustls offers (it has ECDHE with AES-GCM or ChaCha20-Poly1305, and TLS 1.3's)")]
    Cipher(String),
    #[error("ciphers: '{0}' leaves no cipher suite")]
    NoCipher(String),
    #[error("TLS: {0}")]
    Rustls(String),
}

/// What `load` found worth a warning (the server still starts: an expired certificate
/// still serves, and clients decide).
pub struct Loaded {
    pub server: Arc<ServerConfig>,
    pub warnings: Vec<String>,
}

/// Read and check the files `settings` name, and build the server configuration.
pub fn load(settings: &TlsSettings) -> Result<Loaded, TlsError> {
    let cert_pem = read(&settings.certfile, "certfile")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(settings.certfile.clone()));
    }
    let key_path = settings.keyfile.as_ref().unwrap_or(&settings.certfile);
    let key_pem = match &settings.keyfile {
        Some(path) => read(path, "keyfile")?,
        None => cert_pem.clone(),
    };
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(key_path.clone()))?;
    let provider = provider(settings)?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.versions {
        TlsVersions::Tls12And13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(rustls_error)?;
    let builder = match settings.cert_reqs {
        ClientCerts::None => builder.with_no_client_auth(),
        wanted => builder.with_client_cert_verifier(client_verifier(settings, wanted, provider)?),
    };
    let warnings = validity_warnings(&chain[0], &settings.certfile);
    let mut server = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch(key_path.clone()),
        other => rustls_error(other),
    })?;
    // HTTP/1.1 only for now (RFC 7301): a client offering h2 too gets http/1.1.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    if let Some(tickets) = shared_tickets() {
        server.ticketer = tickets;
    }
    Ok(Loaded {
        server: Arc::new(server),
        warnings,
    })
}

/// The master's one ticket secret (tickets.rs), drawn at the first load and kept across
/// HUP's reloads, so a client's ticket outlives a reload of the certificate; `None` (rustls's
/// per-worker sessions) if the system gave no random bytes.
fn shared_tickets() -> Option<Arc<dyn rustls::server::ProducesTickets>> {
    static TICKETS: std::sync::OnceLock<Option<Arc<tickets::SharedTickets>>> =
        std::sync::OnceLock::new();
    let tickets = TICKETS.get_or_init(|| tickets::SharedTickets::new().map(Arc::new));
    tickets
        .clone()
        .map(|t| t as Arc<dyn rustls::server::ProducesTickets>)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Unreadable {
        what,
        path: path.to_path_buf(),
        error: e.to_string(),
    })
}

fn rustls_error(e: rustls::Error) -> TlsError {
    TlsError::Rustls(e.to_string())
}

/// ring's provider, its suites narrowed to `--ciphers`.
fn provider(settings: &TlsSettings) -> Result<Arc<rustls::crypto::CryptoProvider>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(list) = &settings.ciphers {
        provider.cipher_suites = ciphers::from_openssl_list(list, &provider.cipher_suites)?;
    }
    Ok(Arc::new(provider))
}

/// `cert_reqs` 1 or 2: client certificates checked against `ca_certs`; 1 lets a client
/// without one in.
fn client_verifier(
    settings: &TlsSettings,
    wanted: ClientCerts,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let Some(ca_path) = settings.ca_certs.as_ref() else {
        return Err(TlsError::Rustls("cert_reqs needs ca_certs".into()));
    };
    let ca_pem = read(ca_path, "ca_certs")?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&ca_pem).filter_map(Result::ok) {
        roots.add(cert).map_err(rustls_error)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate(ca_path.clone()));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match wanted {
        ClientCerts::Optional => builder.allow_unauthenticated(),
        _ => builder,
    };
    builder.build().map_err(|e| TlsError::Rustls(e.to_string()))
}

/// A certificate outside its validity period still serves (clients decide), with a warning.
fn validity_warnings(cert: &CertificateDer<'_>, path: &Path) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return vec![format!(
            "cannot read the validity dates of the certificate in {}",
            path.display()
        )];
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let validity = parsed.validity();
    if validity.not_after.timestamp() < now {
        return vec![format!(
            "The certificate in {} expired on {}",
            path.display(),
            validity.not_after
        )];
    }
    if validity.not_before.timestamp() > now {
        return vec![format!(
            "The certificate in {} is not valid before {}",
            path.display(),
            validity.not_before
        )];
    }
    Vec::new()
}
