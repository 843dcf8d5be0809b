//! The page texts: one catalog per language (`i18n/en.toml`,
//! `i18n/zh.toml`), read into one typed struct. A key missing from a
//! catalog, or one no page knows, stops the catalog from loading (the tests
//! and `custodia serve` load both), and a template that names a key the
//! struct lacks does not compile: no page can show an empty text.

use super::Lang;
use serde::Deserialize;
use std::sync::OnceLock;

/// Declares the catalog's sections and keys once: the struct the
/// templates read, with unknown keys refused.
macro_rules! catalog {
    ($($section:ident : $ty:ident { $($key:ident),* $(,)? })*) => {
        /// Every page text of one language.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Text {
            $(
                #[doc = concat!("The `[", stringify!($section), "]` texts.")]
                pub $section: $ty,
            )*
        }
        $(
            #[doc = concat!("The `[", stringify!($section), "]` texts.")]
            #[derive(Debug, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $ty {
                $(
                    #[doc = concat!("`", stringify!($key), "`")]
                    pub $key: String,
                )*
            }
        )*
    };
}

catalog! {
    common: Common { lang_switch }
    staff: Staff {
        title_login, name, password, code, code_hint, sign_in, sign_out, title_enroll, enroll_intro, secret,
        recovery, confirm, title_account, roles, mfa, enrolled, not_enrolled, training, valid_until, expired, none,
        csrf, bad_code, busy, forgot, change_password,
    }
    signin: SignIn { invalid, locked, code_locked, internal }
    links: Links {
        title_forgot, forgot_intro, forgot_sent, send, title_link, link_setup, link_password, link_mfa, account,
        current_password, new_password, again, code, proceed, differ, done, sign_in, enroll_intro, secret, confirm,
        recovery, title_password, changed, form_expired, busy,
    }
    portal: Portal {
        title_enter, enter_intro, code, enter, bad_code, locked, form_expired, title, notice, version, effective,
        purpose, basis, info, kept, shared, none, changes, changes_from, needs_consent, upcoming, upcoming_intro,
        consents, consents_intro,
        state_active, state_never_given, state_withdrawn, state_renewal_needed, state_kind_missing, state_not_needed, give, withdraw,
        guardian, guardian_note, separate_note, saved, data, data_intro, download, requests, requests_intro, kind,
        note, send, your_requests, status_received, status_verified, status_in_progress, status_extended,
        status_completed, status_denied, sign_out, error, controller, due,
    }
    changes: Changes {
        purpose_added, purpose_removed, basis_changed, field_added, field_removed, recipient_added,
        recipient_removed, transfer_added, transfer_removed, retention_longer, retention_shorter,
        public_disclosure_added, text_changed, role_processor, role_controller, list_separator,
    }
    reports: Reports { title, purpose, version, given, pending, withdrawn, none, denied, sign_out }
    console: Console {
        title_home, who, link_search, link_account, link_reports, title_search, search_intro, search_by, value,
        purpose, search, results, no_results, truncated, customer, title_customer, back_to_search, field, reveal,
        reveal_intro, reason, reveal_button, consents, none, state, version, title_revealed, hides, hidden, hide_now,
        refused_reveal, refused_reveal_none, not_found, log_request, notice_regime, channel, request_note,
        log_request_button, portal_code, portal_code_intro, send_code, code_sent, edit, edit_intro, save, saved,
        record_consent, action, give, withdraw, language, separate, consent_saved, access_history, what, step_up_title,
        step_up_intro, step_up_code, step_up_button, back_to_card, step_up_minutes, step_up_seconds, more,
        results_from, search_expired,
    }
    queue: Queue {
        link, title, kind, regime, state, any, filter, empty, request, received, due, days_left, acknowledge_by,
        left_days, left_one, left_today, left_overdue, left_done, title_request, back, customer, calendar_gap, rules,
        actions, method, verify, acknowledge, complete, reason, extend, deny, recipients, told, mark_told,
        certificate, history, when, who, note, done, shown, prev, next,
    }
    dash: Dash { link, title, requests, overdue, due_soon, ack_due, warnings, no_warnings }
    audit: Audit {
        link, title, head, verify, intact, broken, filters, actor, customer, action, purpose, outcome, from, to, any,
        filter, empty, searched, when, fields, detail, older,
    }
    reviews: Reviews {
        link, title, intro, start, campaigns, none, campaign, opened_by, opened, decided_col, progress, findings, account, flags, role, grant, last_use, never, title_campaign, back, decision, note, certify, revoke, decided, title_policy, policy_intro, permissions, fields, scope, purposes, line, all_customers, yes, no, explain, action, field, purpose, customer, explain_button, allowed, denied,
    }
    admin: Admin {
        link, title, title_account, name, kind, roles, mfa, state, enrolled, not_enrolled, disabled, active, pending,
        approvals, none, what, requested_by, when, decision, approve, reject, decided, invite, invite_intro, email,
        invite_button, invited, service, create, created, back, roles_intro, save_roles, roles_done, waiting, actions,
        reason, disable, disabled_done, enable, enabled_done, unlock, unlocked_done, send_setup, link_sent, reset_mfa,
        tokens, token_id, expires, revoked, revoke, revoked_done, days, issue, token_done, token_once,
    }
}

const EN: &str = include_str!("../../i18n/en.toml");
const ZH: &str = include_str!("../../i18n/zh.toml");

/// A catalog that did not load.
#[derive(Debug, thiserror::Error)]
#[error("page texts ({lang}): {message}")]
pub struct CatalogError {
    lang: &'static str,
    message: String,
}

fn parse(lang: &'static str, src: &str) -> Result<Text, CatalogError> {
    let t: Text = toml::from_str(src).map_err(|e| CatalogError {
        lang,
        message: e.to_string(),
    })?;
    Ok(t)
}

static CATALOGS: OnceLock<Result<(Text, Text), CatalogError>> = OnceLock::new();

fn catalogs() -> &'static Result<(Text, Text), CatalogError> {
    CATALOGS.get_or_init(|| Ok((parse("en", EN)?, parse("zh", ZH)?)))
}

/// Load both catalogs (the server does it at start, so a broken catalog
/// stops it there rather than on a page).
pub fn check() -> Result<(), &'static CatalogError> {
    catalogs().as_ref().map(|_| ())
}

/// The texts of `lang`.
pub fn text(lang: Lang) -> &'static Text {
    match catalogs() {
        Ok((en, zh)) => match lang {
            Lang::En => en,
            Lang::Zh => zh,
        },
        // `check` runs before the server accepts a connection.
        Err(e) => panic!("{e}"),
    }
}

/// `template` with each `{name}` replaced by its value (values are text:
/// the templates escape the result).
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_every_key_and_no_other() {
        let en = parse("en", EN).unwrap();
        let zh = parse("zh", ZH).unwrap();
        assert_eq!(en.staff.sign_in, "Sign in");
        assert_eq!(zh.staff.sign_in, "登录");
        let missing = ZH.replace("sign_in = \"登录\"\n", "");
        assert!(parse("zh", &missing).unwrap_err().to_string().contains("sign_in"));
        let unknown = format!("{EN}\n[extra]\nx = \"y\"\n");
        assert!(parse("en", &unknown).is_err(), "an unknown section is refused");
        check().unwrap();
    }

    #[test]
    fn every_text_is_written_in_its_language() {
        // Each value of the Chinese catalog has Chinese in it, and the
        // English one has none, except texts that are only a name or a mark.
        let en: toml::Table = toml::from_str(EN).unwrap();
        let zh: toml::Table = toml::from_str(ZH).unwrap();
        let chinese = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for (section, keys) in &zh {
            for (k, v) in keys.as_table().unwrap() {
                let v = v.as_str().unwrap();
                let e = en[section][k].as_str().unwrap();
                assert!(!v.trim().is_empty() && !e.trim().is_empty(), "{section}.{k} is empty");
                let exempt = (section == "common" && k == "lang_switch") || k == "list_separator";
                if !exempt {
                    assert!(chinese(v), "zh {section}.{k} = {v:?} has no Chinese");
                    assert!(!chinese(e), "en {section}.{k} = {e:?} is not English");
                }
            }
        }
    }

    #[test]
    fn placeholders_match_between_languages() {
        let en: toml::Table = toml::from_str(EN).unwrap();
        let zh: toml::Table = toml::from_str(ZH).unwrap();
        let names = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|x| x.split_once('}').map(|(n, _)| n.to_owned()))
                .collect();
            v.sort();
            v
        };
        for (section, keys) in &en {
            for (k, v) in keys.as_table().unwrap() {
                let z = zh[section][k].as_str().unwrap();
                assert_eq!(names(v.as_str().unwrap()), names(z), "{section}.{k}");
            }
        }
        assert_eq!(fill("{a} and {b}", &[("a", "1"), ("b", "<2>")]), "1 and <2>");
    }
}
