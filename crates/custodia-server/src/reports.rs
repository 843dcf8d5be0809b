//! Staff report pages: consent statistics per purpose and notice version,
//! as a table and a bar chart (server-drawn SVG, no scripts).

use crate::problem::Lang;
use crate::web::{blocking_page, esc, lang_of, page_with, session_cookie, sign_out_form, LangQuery};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::consent::ConsentStat;

const TEXT: &[(&str, &str, &str)] = &[
    (
        "title",
        "Consents by purpose and notice version",
        "按处理目的和政策版本统计的同意情况",
    ),
    ("purpose", "Purpose", "处理目的"),
    ("version", "Notice version", "政策版本"),
    ("given", "Given", "已同意"),
    ("pending", "Pending renewal", "待重新同意"),
    ("withdrawn", "Withdrawn", "已撤回"),
    ("none", "No consent has been recorded yet.", "尚无同意记录。"),
    (
        "denied",
        "Your roles do not include reading this report (read_audit or manage_policy).",
        "您的角色无权查看此报告（需要 read_audit 或 manage_policy）。",
    ),
    ("sign_out", "Sign out", "退出登录"),
];

fn t(lang: Lang, key: &str) -> &'static str {
    TEXT.iter()
        .find(|x| x.0 == key)
        .map(|x| if lang == Lang::Zh { x.2 } else { x.1 })
        .unwrap_or("")
}

/// The chart: one stacked horizontal bar per purpose and version.
pub fn chart(stats: &[ConsentStat], label: &dyn Fn(&str) -> String) -> String {
    // Label above each bar, so long (Chinese or English) names never clip.
    const ROW: u32 = 46;
    const LEFT: u32 = 0;
    const WIDTH: u32 = 640;
    let max = stats
        .iter()
        .map(|s| s.given + s.pending_renewal + s.withdrawn)
        .max()
        .unwrap_or(0)
        .max(1);
    let h = ROW * stats.len() as u32 + 10;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"consent-chart\" role=\"img\" viewBox=\"0 0 {} {h}\" width=\"{}\" height=\"{h}\">",
        LEFT + WIDTH + 60,
        LEFT + WIDTH + 60
    );
    for (i, s) in stats.iter().enumerate() {
        let y = 5 + i as u32 * ROW;
        out.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" fill=\"#1d2733\">{} v{}</text>",
            y + 12,
            esc(&label(&s.purpose)),
            s.notice_version
        ));
        let y = y + 17;
        let mut x = LEFT;
        for (n, colour, class) in [
            (s.given, "#1e6b33", "given"),
            (s.pending_renewal, "#c77c02", "pending"),
            (s.withdrawn, "#b3261e", "withdrawn"),
        ] {
            let w = (n as f64 / max as f64 * WIDTH as f64).round() as u32;
            if n > 0 {
                out.push_str(&format!(
                    "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"22\" fill=\"{colour}\"><title>{n}</title></rect>",
                    w.max(1)
                ));
            }
            x += w;
        }
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#5b6b7c\">{}</text>",
            x + 6,
            y + 16,
            s.given + s.pending_renewal + s.withdrawn
        ));
    }
    out.push_str("</svg>");
    out
}

/// GET /reports/consents
pub async fn consents_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let Some(token) = session_cookie(&h) else {
            return Redirect::to("/login").into_response();
        };
        let Ok(Some((principal, csrf))) = s.vault.staff_principal(&token) else {
            return Redirect::to("/login").into_response();
        };
        let nav = sign_out_form("/logout", &csrf, t(lang, "sign_out"));
        let stats = match s.vault.consent_stats(&principal) {
            Ok(x) => x,
            Err(custodia_vault::VaultError::Forbidden(_)) => {
                let body = format!("<h1>{}</h1><p class=\"error\" id=\"error\">{}</p>", t(lang, "title"), t(lang, "denied"));
                return page_with(lang, t(lang, "title"), &body, &nav, "wide", StatusCode::FORBIDDEN);
            }
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        };
        let schema = s.vault.schema();
        let label = |p: &str| {
            schema
                .purpose(p)
                .map(|d| if lang == Lang::Zh { d.name_zh.clone() } else { d.name_en.clone() })
                .unwrap_or_else(|| p.to_owned())
        };
        let mut body = format!("<h1>{}</h1>", t(lang, "title"));
        if stats.is_empty() {
            body.push_str(&format!("<p id=\"empty\">{}</p>", t(lang, "none")));
        } else {
            body.push_str(&format!(
                "<p class=\"legend\"><span class=\"swatch given\"></span>{} <span class=\"swatch pending\"></span>{} <span class=\"swatch withdrawn\"></span>{}</p>",
                t(lang, "given"),
                t(lang, "pending"),
                t(lang, "withdrawn")
            ));
            body.push_str(&chart(&stats, &label));
            body.push_str(&format!(
                "<table id=\"consent-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                t(lang, "purpose"),
                t(lang, "version"),
                t(lang, "given"),
                t(lang, "pending"),
                t(lang, "withdrawn")
            ));
            for x in &stats {
                body.push_str(&format!(
                    "<tr data-purpose=\"{}\" data-version=\"{}\"><td>{}</td><td>{}</td><td class=\"given\">{}</td><td class=\"pending\">{}</td><td class=\"withdrawn\">{}</td></tr>",
                    esc(&x.purpose),
                    x.notice_version,
                    esc(&label(&x.purpose)),
                    x.notice_version,
                    x.given,
                    x.pending_renewal,
                    x.withdrawn
                ));
            }
            body.push_str("</tbody></table>");
        }
        page_with(lang, t(lang, "title"), &body, &nav, "wide", StatusCode::OK)
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
        let svg = chart(&stats, &|p| format!("<{p}>"));
        assert!(svg.contains("&lt;marketing&gt; v1"));
        assert!(svg.contains("class=\"given\" x=\"0\" y=\"22\" width=\"480\""), "{svg}");
        assert!(
            svg.contains("class=\"withdrawn\" x=\"480\" y=\"22\" width=\"160\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"pending\""));
        assert!(!svg.contains("style="), "inline styles are blocked by the page's CSP");
        assert!(chart(&[], &|p| p.to_owned()).starts_with("<svg"));
    }
}
