//! Staff report pages: consent statistics per purpose and notice version,
//! as a table and a bar chart (server-drawn SVG, no scripts).

use super::i18n::Text;
use super::{blocking_page, lang_of, render, session_cookie, LangQuery, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::privacy::consent::ConsentStat;

/// One stacked horizontal bar per purpose and version, its label above it
/// so long (Chinese or English) names never clip. The template escapes
/// every label.
#[derive(Template)]
#[template(path = "reports/chart.svg", escape = "html")]
pub struct Chart {
    width: u32,
    height: u32,
    rows: Vec<ChartRow>,
    /// The chart's accessible name (its table follows on the page).
    title: String,
}

struct ChartRow {
    label: String,
    version: u32,
    label_y: u32,
    bar_y: u32,
    bars: Vec<Bar>,
    total: u64,
    total_x: u32,
    total_y: u32,
}

struct Bar {
    class: &'static str,
    colour: &'static str,
    x: u32,
    width: u32,
    n: u64,
}

impl Chart {
    /// The chart of `stats`, each purpose named by `label`.
    pub fn new(stats: &[ConsentStat], label: &dyn Fn(&str) -> String) -> Chart {
        const ROW: u32 = 46;
        const WIDTH: u32 = 640;
        let max = stats
            .iter()
            .map(|s| s.given + s.pending_renewal + s.withdrawn)
            .max()
            .unwrap_or(0)
            .max(1);
        let rows = stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let y = 5 + i as u32 * ROW;
                let mut x = 0;
                let mut bars = Vec::new();
                for (n, colour, class) in [
                    (s.given, "#1e6b33", "given"),
                    (s.pending_renewal, "#c77c02", "pending"),
                    (s.withdrawn, "#b3261e", "withdrawn"),
                ] {
                    let w = (n as f64 / max as f64 * WIDTH as f64).round() as u32;
                    if n > 0 {
                        bars.push(Bar {
                            class,
                            colour,
                            x,
                            width: w.max(1),
                            n,
                        });
                    }
                    x += w;
                }
                ChartRow {
                    label: label(&s.purpose),
                    version: s.notice_version,
                    label_y: y + 12,
                    bar_y: y + 17,
                    bars,
                    total: s.given + s.pending_renewal + s.withdrawn,
                    total_x: x + 6,
                    total_y: y + 33,
                }
            })
            .collect();
        Chart {
            width: WIDTH + 60,
            height: ROW * stats.len() as u32 + 10,
            rows,
            title: "Consents".into(),
        }
    }

    /// With `title` as its accessible name.
    pub fn titled(mut self, title: &str) -> Chart {
        self.title = title.to_owned();
        self
    }
}

#[derive(Template)]
#[template(path = "reports/consents.html")]
struct ConsentsPage {
    page: Layout,
    t: &'static Text,
    denied: Option<String>,
    chart: String,
    /// Each tally with its purpose's name.
    rows: Vec<(ConsentStat, String)>,
}

/// GET /reports/consents
pub async fn consents_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some(token) = session_cookie(&h) else {
            return Redirect::to("/login").into_response();
        };
        let Ok(Some((principal, csrf))) = s.vault.staff_principal(&token) else {
            return Redirect::to("/login").into_response();
        };
        let mut page = ConsentsPage {
            page: Layout::new(lang, &t.reports.title)
                .signed_in("/logout", &csrf, &t.reports.sign_out)
                .wide(),
            t,
            denied: None,
            chart: String::new(),
            rows: Vec::new(),
        };
        let stats = match s.vault.consent_stats(&principal) {
            Ok(x) => x,
            Err(custodia_vault::VaultError::Forbidden(_)) => {
                page.denied = Some(t.reports.denied.clone());
                return render(&page, StatusCode::FORBIDDEN);
            }
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        };
        let schema = s.vault.schema();
        let label = |p: &str| {
            schema
                .purpose(p)
                .map(|d| lang.pick(&d.name_en, &d.name_zh).to_owned())
                .unwrap_or_else(|| p.to_owned())
        };
        page.chart = match Chart::new(&stats, &label).titled(&t.reports.title).render() {
            Ok(svg) => svg,
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        };
        page.rows = stats
            .into_iter()
            .map(|x| {
                let l = label(&x.purpose);
                (x, l)
            })
            .collect();
        render(&page, StatusCode::OK)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_scales_bars_and_escapes_labels() {
        let stats = vec![
            ConsentStat {
                purpose: "marketing".into(),
                notice_version: 1,
                given: 30,
                withdrawn: 10,
                pending_renewal: 0,
            },
            ConsentStat {
                purpose: "risk".into(),
                notice_version: 2,
                given: 5,
                withdrawn: 0,
                pending_renewal: 5,
            },
        ];
        let svg = Chart::new(&stats, &|p| format!("<{p}>")).render().unwrap();
        assert!(svg.contains("&#60;marketing&#62; v1"), "{svg}");
        assert!(svg.contains("class=\"given\" x=\"0\" y=\"22\" width=\"480\""), "{svg}");
        assert!(
            svg.contains("class=\"withdrawn\" x=\"480\" y=\"22\" width=\"160\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"pending\""));
        assert!(!svg.contains("style="), "inline styles are blocked by the page's CSP");
        assert!(Chart::new(&[], &|p| p.to_owned()).render().unwrap().starts_with("<svg"));
    }
}
