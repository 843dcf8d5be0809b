//! Text normalization applied before validation, storage and blind indexing.
//!
//! Two spellings of the same value must index to the same entry: full-width
//! digits and letters (common in Chinese input methods) become ASCII,
//! ideographic spaces become spaces, and number-like values lose their
//! separators.

/// Map full-width ASCII variants (U+FF01–U+FF5E) to ASCII and the
/// ideographic space (U+3000) to a space; trim surrounding whitespace.
pub fn fold_width(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if (0xFF01..=0xFF5E).contains(&u) {
            // Full-width forms are laid out in ASCII order at a fixed offset.
            out.push(char::from_u32(u - 0xFEE0).unwrap_or(c));
        } else if u == 0x3000 {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    let trimmed = out.trim();
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    }
}

/// Remove the separators people type inside numbers: spaces, hyphens, dots,
/// slashes and parentheses. Other characters are kept so the validator can
/// reject them by name.
pub fn strip_separators(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(
                c,
                ' ' | '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{00A0}'
            )
        })
        .collect()
}

/// Collapse runs of whitespace into one space (for names and addresses).
pub fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

/// The form of a checked value its blind index is computed over, and
/// that a search compares: the value itself, except for a person's name,
/// which is found whatever its letter case or character width ("ana
/// ruiz", "ANA RUIZ" and "Ａｎａ Ｒｕｉｚ" find "Ana Ruiz"; Chinese names
/// have no case). Stored values keep their own spelling.
pub fn search_key(kind: crate::FieldType, checked: &str) -> std::borrow::Cow<'_, str> {
    match kind {
        crate::FieldType::PersonName => {
            let folded = fold_width(checked);
            std::borrow::Cow::Owned(folded.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
        }
        _ => std::borrow::Cow::Borrowed(checked),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_searched_whatever_their_case_and_width() {
        use crate::FieldType;
        for (a, b) in [
            ("Ana Ruiz", "ana  ruiz"),
            ("Ana Ruiz", "ＡＮＡ　Ｒｕｉｚ"),
            ("张伟", "张伟"),
            ("Zoë O'Neil", "ZOË O'NEIL"),
        ] {
            assert_eq!(
                search_key(FieldType::PersonName, a),
                search_key(FieldType::PersonName, b),
                "{a} / {b}"
            );
        }
        assert_ne!(
            search_key(FieldType::PersonName, "张伟"),
            search_key(FieldType::PersonName, "张玮")
        );
        // Other kinds are searched as checked.
        assert_eq!(search_key(FieldType::Email, "a@example.com"), "a@example.com");
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_full_width() {
        assert_eq!(fold_width("１３８００１３８０００"), "13800138000");
        assert_eq!(fold_width("ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ"), "ABC@example.com");
        assert_eq!(fold_width("\u{3000}张三\u{3000}"), "张三");
        assert_eq!(fold_width("＋８６"), "+86");
    }

    #[test]
    fn strips_separators() {
        assert_eq!(strip_separators("138-0013 8000"), "13800138000");
        assert_eq!(strip_separators("(010) 6552.1234"), "01065521234");
        assert_eq!(strip_separators("6222 0212 3456 7890"), "6222021234567890");
    }

    #[test]
    fn collapses() {
        assert_eq!(collapse_spaces("  John   Smith "), "John Smith");
    }

    proptest! {
        #[test]
        fn fold_is_idempotent(s in "\\PC{0,40}") {
            let once = fold_width(&s);
            prop_assert_eq!(fold_width(&once), once.clone());
        }

        #[test]
        fn full_width_digits_fold_to_ascii(d in "[0-9]{1,20}") {
            let wide: String = d.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect();
            prop_assert_eq!(fold_width(&wide), d);
        }
    }
}
