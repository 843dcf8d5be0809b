//! Normalization before matching, with a way back to the original offsets.
//!
//! Full-width digits, letters and punctuation (U+FF01–U+FF5E) become their
//! ASCII forms and the ideographic space becomes a space, one character
//! for one character: the normalized text has the same number of
//! characters as the original, so a character offset means the same in
//! both, and byte offsets translate by walking the two in step.

use std::borrow::Cow;

/// The ASCII form of a full-width character, if it has one.
#[inline]
pub fn fold(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // Dashes people type inside numbers.
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' => '-',
        _ => c,
    }
}

/// The text with full-width forms folded (borrowed when there are none).
pub fn normalize(text: &str) -> Cow<'_, str> {
    // Full-width forms and the ideographic space are 3-byte sequences
    // starting E3 (U+3000) or EF (U+FFxx); dashes start E2.
    let needs = memchr::memchr3(0xE2, 0xE3, 0xEF, text.as_bytes()).is_some() && text.chars().any(|c| fold(c) != c);
    if !needs {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(fold).collect())
}

/// Translates normalized byte offsets (visited in increasing order) into
/// original byte and character offsets.
pub struct OffsetMap<'a> {
    orig: &'a str,
    norm: &'a str,
    /// Current position: (normalized byte, original byte, character).
    pos: (usize, usize, usize),
    same: bool,
}

impl<'a> OffsetMap<'a> {
    /// A map between `orig` and its normalized form `norm`.
    pub fn new(orig: &'a str, norm: &'a str) -> OffsetMap<'a> {
        OffsetMap {
            orig,
            norm,
            pos: (0, 0, 0),
            same: std::ptr::eq(orig, norm) || orig == norm,
        }
    }

    /// (original byte offset, character offset) of normalized byte offset
    /// `nb`, which must not be smaller than the previous call's.
    pub fn map(&mut self, nb: usize) -> (usize, usize) {
        let (mut n, mut o, mut c) = self.pos;
        if nb < n {
            // Out of order: start again from the beginning.
            (n, o, c) = (0, 0, 0);
        }
        if self.same {
            c += self.orig[o..nb].chars().count();
            self.pos = (nb, nb, c);
            return (nb, c);
        }
        let mut ni = self.norm[n..].chars();
        let mut oi = self.orig[o..].chars();
        while n < nb {
            let (Some(a), Some(b)) = (ni.next(), oi.next()) else {
                break;
            };
            n += a.len_utf8();
            o += b.len_utf8();
            c += 1;
        }
        self.pos = (n, o, c);
        (o, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_full_width() {
        assert_eq!(normalize("手机：１３８－００１３　８０００"), "手机:138-0013 8000");
        assert!(matches!(normalize("plain 123"), Cow::Borrowed(_)));
        assert!(matches!(normalize("中文没有全角"), Cow::Borrowed(_)));
    }

    #[test]
    fn offsets_translate() {
        let orig = "电话１３８ok";
        let norm = normalize(orig);
        let mut m = OffsetMap::new(orig, &norm);
        let nb = norm.find("138").unwrap();
        let (ob, c) = m.map(nb);
        assert_eq!(c, 2);
        assert_eq!(&orig[ob..], "１３８ok");
        let (ob2, c2) = m.map(nb + 3);
        assert_eq!((c2, &orig[ob2..]), (5, "ok"));
    }

    proptest! {
        #[test]
        fn same_char_count_and_monotonic_map(s in "[a-z0-9０-９Ａ-Ｚ　中文，。-]{0,40}") {
            let n = normalize(&s);
            prop_assert_eq!(n.chars().count(), s.chars().count());
            let mut m = OffsetMap::new(&s, &n);
            let mut last = 0;
            for (nb, _) in n.char_indices() {
                let (ob, c) = m.map(nb);
                prop_assert!(s.is_char_boundary(ob));
                prop_assert_eq!(s[..ob].chars().count(), c);
                prop_assert!(ob >= last);
                last = ob;
            }
        }
    }
}
