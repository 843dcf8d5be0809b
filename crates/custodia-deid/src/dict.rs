//! The bundled dictionaries (`data/dictionaries.toml`) and the one
//! Aho-Corasick automaton that finds all their words in a single pass.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The bundled dictionaries.
pub const DICTIONARIES_TOML: &str = include_str!("../data/dictionaries.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    cn_surnames: String,
    cn_compound_surnames: Vec<String>,
    cn_name_stop: String,
    cn_context_before: Vec<String>,
    cn_honorifics_after: Vec<String>,
    cn_provinces: Vec<String>,
    cn_cities: Vec<String>,
    cn_address_words: Vec<String>,
    cn_address_context: Vec<String>,
    en_first_names: Vec<String>,
    en_honorifics: Vec<String>,
    en_context: Vec<String>,
    en_street_suffixes: Vec<String>,
    context_id: Vec<String>,
    context_phone: Vec<String>,
    context_card: Vec<String>,
    context_passport: Vec<String>,
    context_ssn: Vec<String>,
}

/// What a dictionary word is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// Before a Chinese name.
    CnNameContext,
    /// After a Chinese name.
    CnHonorific,
    /// A province or city.
    CnPlace,
    /// Before a Chinese address.
    CnAddressContext,
    /// An English given name.
    EnFirstName,
    /// Mr., Ms., …
    EnHonorific,
    /// Before an English name.
    EnNameContext,
    /// Street, Ave, …
    EnStreetSuffix,
    /// Near an ID number.
    ContextId,
    /// Near a phone number.
    ContextPhone,
    /// Near a card number.
    ContextCard,
    /// Near a passport number.
    ContextPassport,
    /// Near an SSN.
    ContextSsn,
}

/// The loaded dictionaries.
pub struct Dict {
    /// Single-character surnames.
    pub surnames: HashSet<char>,
    /// Compound surnames.
    pub compound_surnames: Vec<String>,
    /// Characters that end a given name.
    pub name_stop: HashSet<char>,
    /// Honorifics after a name ("先生", "小姐").
    pub honorifics_after: Vec<String>,
    /// Address words.
    pub address_words: Vec<String>,
    /// English given names.
    pub first_names: HashSet<String>,
    /// All words, in one automaton.
    pub automaton: AhoCorasick,
    /// The kind of each pattern.
    pub kinds: Vec<Word>,
}

/// The bundled dictionaries, loaded once.
pub fn dict() -> &'static Dict {
    static D: OnceLock<Dict> = OnceLock::new();
    D.get_or_init(|| Dict::from_toml(DICTIONARIES_TOML).expect("the bundled dictionaries are valid"))
}

impl Dict {
    /// Load dictionaries from TOML.
    pub fn from_toml(text: &str) -> Result<Dict, String> {
        let r: Raw = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut patterns: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        let mut add = |list: &[String], k: Word| {
            for w in list {
                patterns.push(w.clone());
                kinds.push(k);
            }
        };
        add(&r.cn_context_before, Word::CnNameContext);
        add(&r.cn_honorifics_after, Word::CnHonorific);
        add(&r.cn_provinces, Word::CnPlace);
        add(&r.cn_cities, Word::CnPlace);
        add(&r.cn_address_context, Word::CnAddressContext);
        add(&r.en_first_names, Word::EnFirstName);
        add(&r.en_honorifics, Word::EnHonorific);
        add(&r.en_context, Word::EnNameContext);
        add(&r.en_street_suffixes, Word::EnStreetSuffix);
        add(&r.context_id, Word::ContextId);
        add(&r.context_phone, Word::ContextPhone);
        add(&r.context_card, Word::ContextCard);
        add(&r.context_passport, Word::ContextPassport);
        add(&r.context_ssn, Word::ContextSsn);
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        Ok(Dict {
            surnames: r.cn_surnames.chars().collect(),
            compound_surnames: r.cn_compound_surnames,
            name_stop: r.cn_name_stop.chars().collect(),
            honorifics_after: r.cn_honorifics_after,
            address_words: r.cn_address_words,
            first_names: r.en_first_names.into_iter().collect(),
            automaton,
            kinds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_finds() {
        let d = dict();
        assert!(d.surnames.contains(&'王') && d.surnames.len() > 200);
        let hits: Vec<Word> = d
            .automaton
            .find_iter("客户王小明先生住在广东省深圳市, Mr. Smith at 12 Oak Street")
            .map(|m| d.kinds[m.pattern().as_usize()])
            .collect();
        for w in [
            Word::CnNameContext,
            Word::CnHonorific,
            Word::CnAddressContext,
            Word::CnPlace,
            Word::EnHonorific,
            Word::EnStreetSuffix,
        ] {
            assert!(hits.contains(&w), "{w:?} in {hits:?}");
        }
        assert!(Dict::from_toml("nonsense = 1").is_err());
    }
}
