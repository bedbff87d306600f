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
    /// Prebuilt substring searchers for the middle segments.
    finders: Vec<memmem::Finder<'static>>,
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
        Ok(Wildcard { segments, finders })
    }

    /// Does `value` (the string's content) match?
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let segs = &self.segments;
        let first = &segs[0];
        if segs.len() == 1 {
            return value == first.as_slice();
        }
        let last = &segs[segs.len() - 1];
        if value.len() < first.len() + last.len()
            || !value.starts_with(first)
            || !value.ends_with(last)
        {
            return false;
        }
        let mut rest = &value[first.len()..value.len() - last.len()];
        for f in &self.finders {
            match f.find(rest) {
                Some(at) => rest = &rest[at + f.needle().len()..],
                None => return false,
            }
        }
        true
    }
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
