//! Reaching a customer on their own contact on file: e-mail over SMTP
//! (STARTTLS or TLS from the first byte; plain only to a relay on this
//! machine) and text messages through an SMS gateway's HTTPS webhook.
//!
//! What is sent carries a code and a link, never personal data; errors
//! never repeat the address or the server's words (which may echo it),
//! only what went wrong and the SMTP status code.

use crate::datadir::{MailConfig, MailSecurity, SmsConfig};
use crate::{DataDir, VaultError};
use std::sync::Arc;
use std::time::Duration;

/// How a message reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The e-mail address on file.
    Email,
    /// The mobile number on file, by text message.
    Sms,
}

impl Channel {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }

    /// Both channels.
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    /// The type of the schema field this channel sends to.
    pub fn field_type(self) -> custodia_core::FieldType {
        match self {
            Channel::Email => custodia_core::FieldType::Email,
            Channel::Sms => custodia_core::FieldType::Phone,
        }
    }

    /// What the contact is called, in English and in Chinese.
    pub fn contact_name(self) -> (&'static str, &'static str) {
        match self {
            Channel::Email => ("e-mail address", "电子邮箱"),
            Channel::Sms => ("mobile number", "手机号码"),
        }
    }
}

fn delivery(msg: impl Into<String>) -> VaultError {
    VaultError::Delivery(msg.into())
}

fn read_pem(dir: &DataDir, path: &std::path::Path) -> Result<Vec<u8>, VaultError> {
    let p = dir.resolve(path);
    std::fs::read(&p).map_err(|e| VaultError::Config(format!("{}: {e}", p.display())))
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Send a plain-text e-mail.
pub(crate) fn send_mail(
    cfg: &MailConfig,
    dir: &DataDir,
    to: &str,
    subject: &str,
    text: &str,
) -> Result<(), VaultError> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};

    let from = cfg
        .from
        .parse()
        .map_err(|_| VaultError::Config("[mail] from is not a mail address".into()))?;
    let to = to
        .parse()
        .map_err(|_| delivery("the customer's e-mail address on file cannot be used"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_owned())
        .map_err(|e| delivery(format!("the message could not be built: {e}")))?;
    let tls = || -> Result<TlsParameters, VaultError> {
        let mut b = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca_file {
            let pem = read_pem(dir, ca)?;
            let cert = Certificate::from_pem(&pem).map_err(|e| VaultError::Config(format!("[mail] ca_file: {e}")))?;
            b = b.certificate_store(CertificateStore::None).add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| VaultError::Config(format!("[mail] TLS: {e}")))
    };
    let mut builder = SmtpTransport::builder_dangerous(cfg.host.as_str())
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(cfg.timeout_seconds.clamp(1, 300))));
    builder = match cfg.security {
        MailSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
        MailSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
        MailSecurity::None => {
            if !is_loopback_host(&cfg.host) {
                return Err(VaultError::Config(
                    "[mail] security = \"none\" is allowed only to a relay on this machine (127.0.0.1, ::1, localhost)"
                        .into(),
                ));
            }
            builder.tls(Tls::None)
        }
    };
    if let Some(user) = &cfg.username {
        let password = std::env::var(&cfg.password_env).map_err(|_| {
            VaultError::Config(format!(
                "[mail] username is set: put the SMTP password in the environment variable {}",
                cfg.password_env
            ))
        })?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let transport = builder.build();
    transport.send(&message).map(|_| ()).map_err(|e| {
        // The server's words may echo the address: report only the code.
        match e.status() {
            Some(code) => delivery(format!("the mail server refused the message (SMTP {code})")),
            None if e.is_transient() || e.is_permanent() => delivery("the mail server refused the message"),
            None => delivery(format!(
                "the mail server {}:{} could not be reached over {} ({})",
                cfg.host,
                cfg.port,
                match cfg.security {
                    MailSecurity::Starttls => "STARTTLS",
                    MailSecurity::Tls => "TLS",
                    MailSecurity::None => "a plain connection",
                },
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection or TLS failed"
                }
            )),
        }
    })
}

/// The TLS configuration for the SMS webhook: its own CA, or the public
/// web PKI roots.
fn webhook_tls(cfg: &SmsConfig, dir: &DataDir) -> Result<Arc<rustls::ClientConfig>, VaultError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(ca) => {
            let pem = read_pem(dir, ca)?;
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| VaultError::Config(format!("[sms] ca_file: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| VaultError::Config(format!("[sms] ca_file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(VaultError::Config("[sms] ca_file holds no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| VaultError::Config(format!("[sms] TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Send a text message through the configured webhook.
pub(crate) fn send_sms(cfg: &SmsConfig, dir: &DataDir, to: &str, text: &str) -> Result<(), VaultError> {
    if !cfg.webhook.starts_with("https://") {
        return Err(VaultError::Config("[sms] webhook must be an https:// URL".into()));
    }
    let token = std::env::var(&cfg.token_env).map_err(|_| {
        VaultError::Config(format!(
            "[sms] put the webhook's bearer token in the environment variable {}",
            cfg.token_env
        ))
    })?;
    let agent = ureq::AgentBuilder::new()
        .tls_config(webhook_tls(cfg, dir)?)
        .timeout(Duration::from_secs(cfg.timeout_seconds.clamp(1, 300)))
        .redirects(0)
        .build();
    match agent
        .post(&cfg.webhook)
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(serde_json::json!({"to": to, "text": text}))
    {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, _)) => {
            Err(delivery(format!("the SMS gateway refused the message (HTTP {code})")))
        }
        Err(ureq::Error::Transport(t)) => Err(delivery(format!("the SMS gateway could not be reached ({})", t.kind()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mail_only_to_this_machine() {
        for (host, ok) in [
            ("127.0.0.1", true),
            ("::1", true),
            ("[::1]", true),
            ("localhost", true),
            ("10.0.0.1", false),
            ("mail.example.com", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(is_loopback_host(host), ok, "{host}");
        }
        let dir = DataDir::new("/nonexistent");
        let cfg = MailConfig {
            host: "mail.example.com".into(),
            port: 25,
            security: MailSecurity::None,
            from: "p@example.com".into(),
            username: None,
            password_env: "X".into(),
            ca_file: None,
            timeout_seconds: 1,
        };
        let e = send_mail(&cfg, &dir, "a@example.com", "s", "t").unwrap_err();
        assert!(e.to_string().contains("allowed only to a relay on this machine"), "{e}");
    }

    #[test]
    fn webhooks_are_https_only() {
        let dir = DataDir::new("/nonexistent");
        let cfg = SmsConfig {
            webhook: "http://sms.example.com/send".into(),
            token_env: "X".into(),
            ca_file: None,
            timeout_seconds: 1,
        };
        let e = send_sms(&cfg, &dir, "+8613800138000", "t").unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
    }

    #[test]
    fn errors_never_carry_the_address() {
        let dir = DataDir::new("/nonexistent");
        let cfg = MailConfig {
            host: "127.0.0.1".into(),
            port: 1, // nothing listens
            security: MailSecurity::None,
            from: "p@example.com".into(),
            username: None,
            password_env: "X".into(),
            ca_file: None,
            timeout_seconds: 1,
        };
        let e = send_mail(&cfg, &dir, "secret.person@example.com", "s", "t").unwrap_err();
        assert!(!e.to_string().contains("secret.person"), "{e}");
        assert_eq!(e.code(), "delivery_failed");
        let e = send_mail(&cfg, &dir, "not an address", "s", "t").unwrap_err();
        assert!(!e.to_string().contains("not an address"), "{e}");
    }
}
