//! # custodia-server
//!
//! The HTTPS JSON API over the vault: axum on hyper, TLS by rustls (1.2 and
//! 1.3 only), bearer-token authentication, security headers on every
//! response, RFC 9457 problem details for every error (in English or
//! Chinese per `Accept-Language`), and an OpenAPI document generated from
//! the handlers at `/v1/openapi.json`.

pub mod api;
pub mod extract;
pub mod pages;
pub mod problem;
pub mod tls;

#[cfg(test)]
mod tests;

use crate::problem::{Lang, Problem};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use custodia_vault::Vault;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest request body accepted (a full batch of 1000 records fits).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The vault.
    pub vault: Arc<Vault>,
    hsts: bool,
    /// Password checks (Argon2id) running at once: a flood of sign-ins
    /// queues here instead of filling the blocking pool every other
    /// request needs.
    pub(crate) sign_in: Arc<tokio::sync::Semaphore>,
    /// One turn at a time per address in front of `sign_in`.
    pub(crate) sign_in_turns: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted: Arc<Vec<ipnet::IpNet>>,
    /// The console's open searches (the searched value stays here, never
    /// in a URL or the browser's history).
    pub(crate) searches: Arc<pages::console::customers::Searches>,
}

/// Parse `trusted_proxies`: addresses (`10.0.0.1`) or ranges (`10.0.0.0/8`).
pub fn parse_proxies(list: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("trusted_proxies: {s:?} is not an address or a CIDR range"))
        })
        .collect()
}

/// The address a request is counted against: the peer, or, when the peer
/// is a trusted proxy, the nearest address in `X-Forwarded-For` that is
/// not one (a malformed header counts against the proxy itself).
pub fn client_ip(
    trusted: &[ipnet::IpNet],
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Option<Vec<std::net::IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<&str>>>()
        .and_then(|vs| {
            vs.iter()
                .flat_map(|v| v.split(','))
                .map(|h| h.trim().parse().ok())
                .collect()
        });
    let Some(hops) = hops else { return peer };
    // Every hop trusted: nobody outside said anything; the peer it is
    // (taking the first hop would believe what the client wrote).
    hops.iter().rev().find(|ip| !is_trusted(ip)).copied().unwrap_or(peer)
}

/// A route of the server: method and path (`{id}` for path parameters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: String,
    /// Path pattern.
    pub path: String,
    /// Whether a caller must authenticate (API token or staff session)
    /// before the handler runs; pages and open endpoints check for
    /// themselves.
    pub authenticated: bool,
}

/// Build the page routes and, with them, the table of what was built (so
/// the route list cannot drift from the router).
macro_rules! pages {
    ($router:expr; $( $path:literal => $( $method:ident $handler:path ),+ );* $(;)?) => {{
        let mut table: Vec<RouteInfo> = Vec::new();
        let mut router = $router;
        $(
            let mut mr = axum::routing::MethodRouter::new();
            $(
                mr = mr.$method($handler);
                table.push(RouteInfo {
                    method: stringify!($method).to_uppercase(),
                    path: $path.into(),
                    authenticated: false,
                });
            )+
            router = router.route($path, mr);
        )*
        (router, table)
    }};
}

/// Build the application: routes, authentication, limits, headers.
pub fn app(vault: Arc<Vault>, https: bool) -> (Router, utoipa::openapi::OpenApi) {
    let (router, spec, _, _) = build(vault, https);
    (router, spec)
}

/// Every route the server answers, from the router itself: the API's from
/// its OpenAPI document (generated from the handlers), the pages' from the
/// table they are built from. The authorization matrix test needs a row
/// for each.
pub fn routes(vault: Arc<Vault>) -> Vec<RouteInfo> {
    let (_, spec, pages, open_paths) = build(vault, true);
    let open: std::collections::BTreeSet<&str> = open_paths.iter().map(String::as_str).collect();
    let mut out = pages;
    for (path, item) in &spec.paths.paths {
        let ops = serde_json::to_value(item).expect("a path item serializes");
        for method in ops.as_object().into_iter().flat_map(|o| o.keys()) {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push(RouteInfo {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    authenticated: !open.contains(path.as_str()),
                });
            }
        }
    }
    out.push(RouteInfo {
        method: "GET".into(),
        path: "/v1/openapi.json".into(),
        authenticated: false,
    });
    out.sort();
    out
}

/// The router, its OpenAPI document, the pages' routes and the open API paths.
fn build(vault: Arc<Vault>, https: bool) -> (Router, utoipa::openapi::OpenApi, Vec<RouteInfo>, Vec<String>) {
    let cfg = vault.config().clone();
    let trusted = parse_proxies(&cfg.trusted_proxies).unwrap_or_else(|e| {
        // `serve` refuses to start with such a list; here (tests, route
        // listing) nothing is believed.
        tracing::error!("{e}");
        Vec::new()
    });
    let state = AppState {
        vault,
        hsts: https,
        sign_in: Arc::new(tokio::sync::Semaphore::new(cfg.sign_in.concurrent_checks.max(1))),
        sign_in_turns: Arc::default(),
        searches: Arc::default(),
        trusted: Arc::new(trusted),
    };
    let (protected, mut spec) = api::protected().split_for_parts();
    let (open, open_spec) = api::open().split_for_parts();
    let open_paths: Vec<String> = open_spec.paths.paths.keys().cloned().collect();
    spec.merge(open_spec);
    spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let spec_json = Arc::new(
        serde_json::to_vec(&api::docs::finish(&spec, state.vault.schema())).expect("the OpenAPI document serializes"),
    );
    let protected = protected.layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let (router, table) = pages!(Router::new().merge(protected).merge(open);
        "/" => get pages::root;
        "/login" => get pages::staff::login_page, post pages::staff::login_submit;
        "/account" => get pages::staff::account_page;
        "/console" => get pages::console::home;
        "/console/search" => get pages::console::customers::search_form, post pages::console::customers::search_submit;
        "/console/search/more" => post pages::console::customers::search_more;
        "/console/customers/{id}" => get pages::console::customers::customer;
        "/console/customers/{id}/reveal" => get pages::console::customers::reveal_get, post pages::console::customers::reveal;
        "/console/customers/{id}/request" => post pages::console::customers::log_request;
        "/console/customers/{id}/edit" => post pages::console::customers::edit;
        "/console/customers/{id}/consent" => post pages::console::customers::consent;
        "/console/customers/{id}/portal-code" => post pages::console::customers::portal_code;
        "/console/dashboard" => get pages::console::requests::dashboard;
        "/console/requests" => get pages::console::requests::requests;
        "/console/requests/{id}" => get pages::console::requests::request;
        "/console/requests/{id}/{action}" => post pages::console::requests::request_action;
        "/console/audit" => get pages::console::audit::audit;
        "/console/audit/verify" => post pages::console::audit::verify;
        "/console/accounts" => get pages::console::admin::accounts, post pages::console::admin::create;
        "/console/accounts/{name}" => get pages::console::admin::account;
        "/console/accounts/{name}/{action}" => post pages::console::admin::account_action;
        "/console/approvals/{id}/{action}" => post pages::console::admin::decide;
        "/console/reviews" => get pages::console::reviews::reviews, post pages::console::reviews::start;
        "/console/reviews/{id}" => get pages::console::reviews::campaign;
        "/console/reviews/{id}/decide" => post pages::console::reviews::decide;
        "/console/policy" => get pages::console::reviews::policy;
        "/mfa/enroll" => get pages::staff::enroll_page, post pages::staff::enroll_submit;
        "/password/forgot" => get pages::links::forgot_page, post pages::links::forgot_submit;
        "/account/link" => get pages::links::link_page, post pages::links::link_submit;
        "/account/link/mfa" => post pages::links::link_mfa_submit;
        "/account/password" => get pages::links::password_page, post pages::links::password_submit;
        "/logout" => post pages::staff::logout;
        "/reports/consents" => get pages::reports::consents_page;
        "/portal" => get pages::portal::main_page;
        "/portal/enter" => get pages::portal::enter_page, post pages::portal::enter_submit;
        "/portal/consent" => post pages::portal::consent_submit;
        "/portal/request" => post pages::portal::request_submit;
        "/portal/data.json" => get pages::portal::download;
        "/portal/logout" => post pages::portal::logout;
        "/static/custodia.css" => get pages::css;
        "/static/reveal.css" => get pages::console::customers::reveal_css;
    );
    let router = router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let body = spec_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body.as_ref().clone()) }
            }),
        )
        .fallback(|h: axum::http::HeaderMap| async move {
            Problem::new("not_found", "no such endpoint", crate::problem::lang_from_headers(&h))
        })
        .method_not_allowed_fallback(|h: axum::http::HeaderMap| async move {
            Problem::new(
                "method_not_allowed",
                "this endpoint does not take that method",
                crate::problem::lang_from_headers(&h),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                // The panic payload may hold anything; it is not echoed or logged.
                tracing::error!("a request handler panicked");
                Problem::new("internal", "the server could not complete the request", Lang::En).into_response()
            },
        ))
        .with_state(state);
    (router, spec, table, open_paths)
}

async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let lang = crate::problem::lang_from_headers(req.headers());
    let source = req
        .extensions()
        .get::<pages::ClientAddr>()
        .map(|c| client_ip(&s.trusted, c.0.ip(), req.headers()).to_string())
        .unwrap_or_else(|| "unknown".into());
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let Some(token) = presented else {
        // People: a session cookie, plus the session's CSRF token on anything
        // that changes state (SameSite=Strict already stops cross-site sends).
        if let Some(cookie) = pages::session_cookie(req.headers()) {
            match s.vault.staff_principal(&cookie) {
                Ok(Some((p, csrf))) => {
                    let safe = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
                    let sent = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
                    if !safe && sent != Some(csrf.as_str()) {
                        return Problem::new(
                            "forbidden",
                            "send the session's CSRF token in X-CSRF-Token (GET /v1/session)",
                            lang,
                        )
                        .into_response();
                    }
                    req.extensions_mut().insert(p);
                    return next.run(req).await;
                }
                Ok(None) => {}
                Err(e) => return Problem::from_vault(&e, lang).into_response(),
            }
        }
        return Problem::new(
            "unauthorized",
            "send an API token (Authorization: Bearer cst_…) or sign in at /login",
            lang,
        )
        .into_response();
    };
    // Both checks are in-memory or a single indexed read, so they stay on
    // the async thread.
    let principal = match s.vault.authenticate_bootstrap(&token) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => match s.vault.authenticate_token(&token) {
            Ok(r) => r,
            Err(e) => return Problem::from_vault(&e, lang).into_response(),
        },
        Err(e) => return Problem::from_vault(&e, lang).into_response(),
    };
    match principal {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(refusal) => {
            if s.vault.refused_token(refusal, &source) {
                // Over the limit: slow the sender down (asynchronously) and
                // say so. A valid token from the same address was let
                // through above.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return Problem::new(
                    "too_many_requests",
                    "too many invalid API tokens from this address; wait and retry with a valid one",
                    lang,
                )
                .into_response();
            }
            Problem::new("unauthorized", "the API token is invalid, expired or revoked", lang).into_response()
        }
    }
}

async fn security_headers(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    if s.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages set their own (slightly wider) policy; everything else gets none.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    r
}

/// Open connections, by address and in all.
struct ConnLimits {
    per_address: usize,
    total: usize,
    trusted: Vec<ipnet::IpNet>,
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

/// One admitted connection; its place is given back when dropped.
struct ConnSlot {
    limits: Arc<ConnLimits>,
    ip: std::net::IpAddr,
}

impl ConnLimits {
    fn new(cfg: &custodia_vault::datadir::HttpConfig, trusted: Vec<ipnet::IpNet>) -> ConnLimits {
        ConnLimits {
            per_address: cfg.max_connections_per_address,
            total: cfg.max_connections.max(1),
            trusted,
            open: Default::default(),
        }
    }

    /// A place for a connection from `ip`, or None when it or everyone
    /// holds as many as allowed.
    fn admit(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<ConnSlot> {
        // An IPv4 client on a dual-stack socket is its IPv4 address; an
        // IPv6 client is its /64 (one host holds a whole /64).
        let canonical = ip.to_canonical();
        let trusted_peer = self.trusted.iter().any(|n| n.contains(&canonical));
        let ip = match canonical {
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        };
        let mut g = self.open.lock().expect("connection table");
        let (total, by_ip) = &mut *g;
        if *total >= self.total {
            return None;
        }
        let counted = self.per_address > 0 && !trusted_peer;
        let n = by_ip.entry(ip).or_insert(0);
        if counted && *n >= self.per_address {
            return None;
        }
        *n += 1;
        *total += 1;
        Some(ConnSlot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut g = self.limits.open.lock().expect("connection table");
        let (total, by_ip) = &mut *g;
        *total -= 1;
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain HTTP asked for on a non-loopback address.
    #[error("--insecure-http is allowed only on a loopback address (127.0.0.1 or ::1), not {0}")]
    InsecureNotLoopback(SocketAddr),
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {msg}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        msg: String,
    },
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A page-text catalog does not load (a build with a broken catalog).
    #[error("{0}")]
    Texts(String),
}

/// How to serve.
pub enum Transport {
    /// HTTPS with this configuration.
    Tls(Arc<rustls::ServerConfig>),
    /// Plain HTTP (loopback only).
    InsecureHttp,
}

/// A bound listener, ready to serve.
pub struct Bound {
    listener: tokio::net::TcpListener,
    transport: Transport,
}

impl Bound {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound socket has an address")
    }
}

/// Bind `addr` for `transport`.
pub async fn bind(addr: SocketAddr, transport: Transport) -> Result<Bound, ServeError> {
    // Every page reads the catalogs: refuse to start without them.
    pages::i18n::check().map_err(|e| ServeError::Texts(e.to_string()))?;
    if matches!(transport, Transport::InsecureHttp) && !addr.ip().is_loopback() {
        return Err(ServeError::InsecureNotLoopback(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Bind {
            addr,
            msg: e.to_string(),
        })?;
    Ok(Bound { listener, transport })
}

/// Serve until `shutdown` completes.
pub async fn serve(bound: Bound, vault: Arc<Vault>, shutdown: impl std::future::Future<Output = ()>) {
    let https = matches!(bound.transport, Transport::Tls(_));
    let (router, _) = app(vault.clone(), https);
    // Refused API tokens are written as one event per source and window.
    let flusher = {
        let vault = vault.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                let v = vault.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || v.flush_token_failures(false)).await {
                    tracing::warn!(error = %e, "could not record refused tokens");
                }
            }
        })
    };
    let acceptor = match &bound.transport {
        Transport::Tls(cfg) => Some(tokio_rustls::TlsAcceptor::from(cfg.clone())),
        Transport::InsecureHttp => None,
    };
    let http = vault.config().http.clone();
    let header_timeout = std::time::Duration::from_millis(http.header_read_timeout_ms.max(1));
    let handshake_timeout = std::time::Duration::from_millis(http.handshake_timeout_ms.max(1));
    let limits = Arc::new(ConnLimits::new(
        &http,
        parse_proxies(&vault.config().trusted_proxies).unwrap_or_default(),
    ));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = bound.listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = limits.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open from this address");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router =
            tower::ServiceExt::map_request(router.clone(), move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(pages::ClientAddr(peer));
                req
            });
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper_util::service::TowerToHyperService::new(router);
            let mut builder = hyper::server::conn::http1::Builder::new();
            // The timer makes the header timeout real (without one, hyper's
            // default never fires): half-sent headers and idle kept-alive
            // connections are closed.
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            match acceptor {
                Some(a) => match tokio::time::timeout(handshake_timeout, a.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
    flusher.abort();
    let _ = tokio::task::spawn_blocking(move || vault.flush_token_failures(true)).await;
}
