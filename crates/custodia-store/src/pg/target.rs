//! Where and how to connect: the parsed storage URL with Custodia's
//! defaults, and TLS when the URL asks for it.
//!
//! `sslmode=require` needs `sslrootcert=PATH` (libpq's name for the CA
//! file): the server's certificate is then verified against that CA and
//! the URL's host name (TLS 1.2/1.3, rustls), which is what libpq calls
//! `verify-full`. Without `sslmode=require` connections are plain; a URL
//! that asks for TLS without saying whom to trust is refused rather than
//! connected unverified.

use super::read::ReadConn;
use super::{pg_err, redact_url, Conn};
use crate::StoreError;
use std::time::Duration;
use tokio_postgres::config::SslMode;

/// A parsed storage URL.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

/// Remove `name=value` from a URL's query or a key=value string; returns
/// the rest and the (percent-decoded) value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let key = format!("{name}=");
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), None);
        };
        let mut value = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| match kv.strip_prefix(&key) {
                Some(v) => {
                    value = Some(percent_decode(v));
                    false
                }
                None => true,
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, value);
    }
    let mut value = None;
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| match kv.strip_prefix(&key) {
            Some(v) => {
                value = Some(v.to_owned());
                false
            }
            None => true,
        })
        .collect();
    (kept.join(" "), value)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tls_for(ca_file: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |e: String| StoreError::Database(format!("sslrootcert {ca_file}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(e.to_string()))? {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Target {
    /// Parse a `postgres://` URL (or libpq key=value string) with Custodia's
    /// defaults: a 5 s connect timeout, TCP keepalives, and
    /// `application_name = custodia`.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        let (rest, ca) = take_param(url, "sslrootcert");
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| StoreError::Database(format!("storage URL {} is not valid: {e}", redact_url(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("custodia");
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let tls = match (config.get_ssl_mode(), ca) {
            (SslMode::Require, Some(ca)) => Some(tls_for(&ca)?),
            (SslMode::Require, None) => {
                return Err(StoreError::Database(
                    "sslmode=require needs sslrootcert=PATH (the CA that signed the database server's certificate)"
                        .into(),
                ))
            }
            (_, Some(_)) => {
                return Err(StoreError::Database(
                    "sslrootcert is given but sslmode is not require: add sslmode=require".into(),
                ))
            }
            _ => None,
        };
        Ok(Target { config, tls })
    }

    /// Whether connections use TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A synchronous connection (writer, migrations, vacuum).
    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        let config = postgres::Config::from(self.config.clone());
        let client = match &self.tls {
            None => config.connect(tokio_postgres::NoTls),
            Some(tls) => config.connect(tls.clone()),
        }
        .map_err(|e| self.unavailable(e))?;
        Ok(Conn::new(client))
    }

    /// An asynchronous read connection.
    pub(crate) fn read_conn(&self) -> Result<ReadConn, StoreError> {
        ReadConn::open(&self.config, self.tls.clone()).map_err(|e| match e {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{m} ({})", self.describe())),
            other => other,
        })
    }

    fn unavailable(&self, e: postgres::Error) -> StoreError {
        match pg_err(e) {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{m} ({})", self.describe())),
            other => other,
        }
    }

    /// Where it points (host, port, database), without secrets.
    pub(crate) fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "server {host}:{port}, database {}{}",
            self.config.get_dbname().unwrap_or("(default)"),
            if self.is_tls() { ", TLS" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_of_urls_and_key_value_strings() {
        assert_eq!(
            take_param(
                "postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem&x=1",
                "sslrootcert"
            ),
            (
                "postgres://u@h/db?sslmode=require&x=1".into(),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            take_param("postgres://u@h/db?sslrootcert=/ca.pem", "sslrootcert"),
            ("postgres://u@h/db".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_param("host=h sslrootcert=/ca.pem dbname=d", "sslrootcert"),
            ("host=h dbname=d".into(), Some("/ca.pem".into()))
        );
        assert_eq!(
            take_param("postgres://u@h/db", "sslrootcert"),
            ("postgres://u@h/db".into(), None)
        );
    }

    #[test]
    fn tls_is_verified_or_refused() {
        let e = Target::parse("postgres://u@h/db?sslmode=require")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("sslrootcert"), "{e}");
        let e = Target::parse("postgres://u@h/db?sslrootcert=/x.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("sslmode=require"), "{e}");
        let e = Target::parse("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/nonexistent.pem"), "{e}");
        assert!(!Target::parse("postgres://u@h/db").unwrap().is_tls());
    }
}
