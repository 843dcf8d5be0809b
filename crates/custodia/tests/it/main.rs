//! Custodia's integration tests: one test binary (as kanidm keeps its), one
//! test kit, modules by concern. Each drives the real `custodia` binary and
//! talks to real servers: HTTPS over rustls, SQLite and PostgreSQL, SMTP on
//! loopback, chromium through chromedriver.

mod kit;

mod api;
mod browser;
mod cli;
mod consent;
mod deid;
mod delivery;
mod matrix;
mod postgres;
mod rights;
mod signin;
