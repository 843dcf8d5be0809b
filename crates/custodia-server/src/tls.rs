//! TLS: a self-signed certificate generated on first start (or the
//! operator's own), and a rustls configuration limited to TLS 1.2 and 1.3.

use std::path::Path;
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing certificate files failed.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// The certificate or key is unusable.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Create a self-signed certificate for localhost at `cert`/`key` unless
/// both exist. Returns whether one was created.
pub fn ensure_self_signed(cert: &Path, key: &Path) -> Result<bool, TlsError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let file_err = |p: &Path, e: std::io::Error| TlsError::File {
        path: p.display().to_string(),
        msg: e.to_string(),
    };
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| TlsError::Config(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Custodia (self-signed)");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let kp = rcgen::KeyPair::generate().map_err(|e| TlsError::Config(e.to_string()))?;
    let c = params.self_signed(&kp).map_err(|e| TlsError::Config(e.to_string()))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    if let Some(dir) = key.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    custodia_vault::datadir::write_private(key, kp.serialize_pem().as_bytes(), 0o600).map_err(|e| TlsError::File {
        path: key.display().to_string(),
        msg: e.to_string(),
    })?;
    custodia_vault::datadir::write_private(cert, c.pem().as_bytes(), 0o644).map_err(|e| TlsError::File {
        path: cert.display().to_string(),
        msg: e.to_string(),
    })?;
    Ok(true)
}

/// A rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::File {
            path: cert.display().to_string(),
            msg: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File {
            path: cert.display().to_string(),
            msg: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: cert.display().to_string(),
            msg: "no certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.display().to_string(),
        msg: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
