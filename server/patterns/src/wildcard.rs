//! `wildcard` patterns: parsing (with AWS's `\*` / `\\` escapes and error texts) and
//! linear-time matching.
//!
//! A wildcard pattern only has one metacharacter, `*` (zero or more characters), so it
//! splits into literal segments. The first segment must be a prefix, the last a suffix,
//! and the middle ones are found left to right with a substring search; leftmost-first
//! placement is optimal for `*`-only globs, so no backtracking is ever needed and
//! matching is O(len(value) * segments).

use memchr::memmem;

/// Maximum number of `*` AWS accepts in one wildcard pattern before answering
/// "Rule is too complex ...". (AWS evaluates a machine-complexity measure; for a single
/// rule that measure grows with the number of wildcards. 6 wildcards are rejected by AWS
/// in the recorded conformance case; 5 are accepted.)
pub(crate) const MAX_WILDCARDS: usize = 5;

/// Reason AWS gives when a wildcard pattern is too complex.
pub(crate) const TOO_COMPLEX: &str = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/// A parsed wildcard pattern.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    /// Literal segments between the `*`s (escapes resolved); `segments.len() - 1` stars.
    segments: Vec<Vec<u8>>,
    /// Prebuilt substring searchers for the non-empty middle segments.
    finders: Vec<memmem::Finder<'static>>,
    /// Sum of the segment lengths: no shorter value can match.
    min_len: usize,
}

impl PartialEq for Wildcard {
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments
    }
}

impl Wildcard {
    /// Parse a wildcard pattern. Errors carry AWS's reason text; positions are 1-based
    /// byte offsets, as AWS reports them (it counts the opening quote).
    pub(crate) fn parse(text: &str) -> Result<Wildcard, String> {
        let bytes = text.as_bytes();
        let mut segments = vec![Vec::new()];
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'*' {
                if i + 1 < bytes.len() && bytes[i + 1] == b'*' {
                    return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                }
                segments.push(Vec::new());
            } else if b == b'\\' {
                if i + 1 < bytes.len() && (bytes[i + 1] == b'*' || bytes[i + 1] == b'\\') {
                    segments.last_mut().expect("non-empty").push(bytes[i + 1]);
                    i += 2;
                    continue;
                }
                return Err(format!("Invalid escape character at pos {}", i + 1));
            } else {
                segments.last_mut().expect("non-empty").push(b);
            }
            i += 1;
        }
        if segments.len() - 1 > MAX_WILDCARDS {
            return Err(TOO_COMPLEX.to_string());
        }
        let finders = if segments.len() > 2 {
            segments[1..segments.len() - 1]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| memmem::Finder::new(s).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        let min_len = segments.iter().map(Vec::len).sum();
        Ok(Wildcard {
            segments,
            finders,
            min_len,
        })
    }

    /// Does `value` (the string's content) match?
    ///
    /// The literal prefix, suffix and total literal length are checked first (inline,
    /// no library calls), so most non-matching values are rejected in a few instructions.
    #[inline]
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let segs = &self.segments;
        let first = &segs[0];
        if segs.len() == 1 {
            return value.len() == first.len() && bytes_eq(value, first);
        }
        if value.len() < self.min_len {
            return false;
        }
        let last = &segs[segs.len() - 1];
        if !bytes_eq(&value[..first.len()], first)
            || !bytes_eq(&value[value.len() - last.len()..], last)
        {
            return false;
        }
        let mut rest = &value[first.len()..value.len() - last.len()];
        for f in &self.finders {
            let needle = f.needle();
            let at = if rest.len() < SHORT_HAYSTACK {
                find_short(rest, needle)
            } else {
                f.find(rest)
            };
            match at {
                Some(at) => rest = &rest[at + needle.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Below this haystack length a plain loop beats the vectorised substring search (whose
/// set-up cost dominates on short event values).
const SHORT_HAYSTACK: usize = 64;

/// Byte equality of two slices of the same length, without a `memcmp` call (the values
/// compared here are short literals). A plain loop: an iterator adapter (`zip`) is a
/// generic function of the standard library that, without LTO across codegen units, is
/// compiled once per crate and called out of line on every comparison.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let b = &b[..a.len()];
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// First occurrence of non-empty `needle` in short `hay`.
#[inline]
fn find_short(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let n = needle.len();
    if n > hay.len() {
        return None;
    }
    let (first, tail) = (needle[0], &needle[1..]);
    // A plain loop, as in `bytes_eq`.
    let mut i = 0;
    while i <= hay.len() - n {
        if hay[i] == first && bytes_eq(&hay[i + 1..i + n], tail) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Wildcard::parse(p).unwrap().matches(v.as_bytes())
    }

    #[test]
    fn matching() {
        assert!(m("*", ""));
        assert!(m("*", "abc"));
        assert!(m("a*c", "ac"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbcd"));
        assert!(m("*.png", "x.png"));
        assert!(m("a*b*a", "aba"));
        assert!(!m("a*b*a", "ab"));
        assert!(m("a*a", "aa"));
        assert!(!m("a*a", "a"));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("*ab*ab*", "xabab"));
        assert!(!m("*ab*ab*", "xaba"));
        assert!(m("*aab*", "aaab"));
        assert!(!m("a*b*c", "abc".repeat(0).as_str()));
        let long = format!("{}needle{}", "x".repeat(100), "y".repeat(100));
        assert!(m("x*needle*y", &long));
        assert!(!m("x*needlf*y", &long));
    }

    /// Reference glob matcher (exponential, for short inputs only).
    fn naive(p: &[u8], v: &[u8]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some((b'*', rest)) => (0..=v.len()).any(|i| naive(rest, &v[i..])),
            Some((c, rest)) => v.first() == Some(c) && naive(rest, &v[1..]),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_naive_glob(p in "[ab]{0,3}(\\*[ab]{0,3}){0,4}", v in "[ab]{0,12}|[ab]{60,90}") {
            let Ok(w) = Wildcard::parse(&p) else {
                // `**` is rejected by the parser.
                proptest::prop_assert!(p.contains("**"));
                return Ok(());
            };
            let short = v.len() <= 12;
            if short {
                proptest::prop_assert_eq!(w.matches(v.as_bytes()), naive(p.as_bytes(), v.as_bytes()), "{} {}", p, v);
            } else {
                // Long values: compare against the same pattern run through the plain
                // substring-search path (a haystack padded far beyond the inline limit).
                let want = naive_long(&w, v.as_bytes());
                proptest::prop_assert_eq!(w.matches(v.as_bytes()), want, "{} {}", p, v);
            }
        }
    }

    /// Segment-by-segment leftmost placement using `windows` (independent of memmem).
    fn naive_long(w: &Wildcard, v: &[u8]) -> bool {
        let segs = &w.segments;
        if segs.len() == 1 {
            return v == segs[0].as_slice();
        }
        let (first, last) = (&segs[0], &segs[segs.len() - 1]);
        if v.len() < first.len() + last.len() || !v.starts_with(first) || !v.ends_with(last) {
            return false;
        }
        let mut rest = &v[first.len()..v.len() - last.len()];
        for s in &segs[1..segs.len() - 1] {
            if s.is_empty() {
                continue;
            }
            match rest.windows(s.len()).position(|x| x == s.as_slice()) {
                Some(at) => rest = &rest[at + s.len()..],
                None => return false,
            }
        }
        true
    }

    #[test]
    fn errors() {
        assert_eq!(
            Wildcard::parse("ab**").unwrap_err(),
            "Consecutive wildcard characters at pos 3"
        );
        assert_eq!(
            Wildcard::parse(r"a\b").unwrap_err(),
            "Invalid escape character at pos 2"
        );
        assert_eq!(Wildcard::parse("*:*:*:*:*:x/*").unwrap_err(), TOO_COMPLEX);
        assert!(Wildcard::parse("*:*:*:*:*").is_ok());
    }

    #[test]
    fn pathological_is_fast() {
        let w = Wildcard::parse("*a*a*a*a*b").unwrap();
        let v = "a".repeat(1_000_000);
        let t = std::time::Instant::now();
        assert!(!w.matches(v.as_bytes()));
        assert!(t.elapsed().as_secs() < 2);
    }
}
