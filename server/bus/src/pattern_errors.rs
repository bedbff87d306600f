//! `InvalidEventPatternException` messages as EventBridge's wire API words
//! them: the reason, then where AWS's JSON parser (Jackson, streaming) stood
//! when the check failed: `\n at [Source: (String)"<pattern>"; line: 1,
//! column: N]`. The pattern crate gives the reason and its own parser's
//! position; this moves that position to where Jackson's would be for the
//! checks whose recorded AWS answers show it elsewhere, drops it for the
//! checks AWS makes after parsing (CIDR and IP addresses, wildcard
//! complexity), and repeats it for checks inside `anything-but` lists (AWS
//! rethrows those, adding the location again).

use patterns::PatternError;

/// Reasons AWS gives without a location: found once the pattern is parsed.
const UNLOCATED: [&str; 3] = [
    "Malformed CIDR",
    "Nonstandard IP address",
    "Rule is too complex",
];

/// The wire message of `e`, an error of parsing `pattern`.
pub(crate) fn wire_message(pattern: &str, e: &PatternError) -> String {
    if UNLOCATED.iter().any(|r| e.reason().starts_with(r)) {
        return e.message();
    }
    let raw = e.raw_message();
    let Some((1, column)) = e.location() else {
        return raw;
    };
    let chars: Vec<char> = pattern.chars().collect();
    if chars.contains(&'\n') || column == 0 || column > chars.len() + 1 {
        return raw;
    }
    let tokens = tokens(&chars);
    let at = column - 1;
    let moved = if e.reason().starts_with("Unrecognized match type") {
        // Jackson has read the value after the field name.
        tokens
            .iter()
            .find(|t| t.start >= at && t.kind != Kind::Colon)
            .map(|t| t.read_end())
    } else if e.reason().ends_with("must be an object or an array") {
        // A string value is refused from its first token, before its text is read.
        tokens
            .iter()
            .find(|t| t.end == at && t.kind == Kind::Str)
            .map(|t| t.read_end())
    } else {
        None
    };
    let column = moved.map_or(column, |end| end + 1);
    let suffix = &raw[e.message().len()..];
    let location = match suffix.rsplit_once("column: ") {
        Some((head, _)) => format!("{head}column: {column}]"),
        None => suffix.to_string(),
    };
    let twice = in_anything_but_list(&tokens, column.saturating_sub(2));
    format!(
        "{}{location}{}",
        e.message(),
        if twice { location.as_str() } else { "" }
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open(char),
    Close,
    Str,
    Literal,
    Colon,
    Comma,
}

/// A token: `start..end` in chars.
#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    kind: Kind,
    text: String,
}

impl Token {
    /// Where Jackson stands once it has read this token: after a string's
    /// opening quote (its text is read lazily), after anything else.
    fn read_end(&self) -> usize {
        match self.kind {
            Kind::Str => self.start + 1,
            _ => self.end,
        }
    }
}

/// The tokens of `chars`, as far as they are JSON.
fn tokens(chars: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = match c {
            '{' | '[' => Kind::Open(c),
            '}' | ']' => Kind::Close,
            ':' => Kind::Colon,
            ',' => Kind::Comma,
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                Kind::Str
            }
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => {
                while i + 1 < chars.len()
                    && !matches!(
                        chars[i + 1],
                        ',' | ']' | '}' | ':' | ' ' | '\t' | '\r' | '\n'
                    )
                {
                    i += 1;
                }
                Kind::Literal
            }
        };
        i += 1;
        let end = i.min(chars.len());
        let text = match kind {
            Kind::Str => chars[(start + 1).min(end)..end.saturating_sub(1).max(start + 1)]
                .iter()
                .collect(),
            _ => String::new(),
        };
        out.push(Token {
            start,
            end,
            kind,
            text,
        });
    }
    out
}

/// Whether the char at `p` lies in an array that is the value of
/// `anything-but`, or of an operator inside an `anything-but` object.
fn in_anything_but_list(tokens: &[Token], p: usize) -> bool {
    // Open containers: (is array, the key whose value it is).
    let mut stack: Vec<(bool, Option<String>)> = Vec::new();
    let mut key: Option<String> = None;
    let mut prev_str: Option<String> = None;
    for t in tokens {
        if t.start > p {
            break;
        }
        match t.kind {
            Kind::Open(c) => {
                let in_object = stack.last().is_some_and(|(array, _)| !array);
                stack.push((c == '[', if in_object { key.take() } else { None }));
            }
            Kind::Close if t.start == p => break,
            Kind::Close => {
                stack.pop();
            }
            Kind::Str => {
                prev_str = Some(t.text.clone());
                continue;
            }
            Kind::Colon => key = prev_str.take(),
            Kind::Comma | Kind::Literal => {}
        }
        prev_str = None;
    }
    let Some(k) = stack.iter().rposition(|(array, _)| *array) else {
        return false;
    };
    let named = |i: usize| stack[i].1.as_deref() == Some("anything-but");
    named(k) || (k >= 1 && named(k - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(pattern: &str) -> String {
        let e = patterns::EventPattern::parse(pattern).unwrap_err();
        wire_message(pattern, &e)
    }

    #[test]
    fn locations_are_where_aws_s_parser_stands() {
        assert!(wire(r#"{"my_key": [{"EXISTS": true}]}"#).ends_with("line: 1, column: 28]"));
        assert!(wire(r#"{"string": "my-value"}"#).ends_with("line: 1, column: 13]"));
        let twice = wire(r#"{"a": [{"anything-but": ["stopped", null]}]}"#);
        assert_eq!(twice.matches("\n at [Source:").count(), 2, "{twice}");
        let once = wire(r#"{"a": [{"anything-but": {"prefix": 123}}]}"#);
        assert_eq!(once.matches("\n at [Source:").count(), 1, "{once}");
        assert!(!wire(r#"{"ip": [{"cidr": "bad"}]}"#).contains("\n at ["));
    }
}
