//! A streaming JSON tokenizer for event patterns that mimics Jackson's token stream
//! and its error messages, so that pattern errors are reported in the same order and
//! with the same text as EventBridge (whose compiler validates while it tokenizes).

use crate::error::PatternError;

/// Jackson's default maximum nesting depth (`StreamReadConstraints`).
pub(crate) const MAX_NESTING: usize = 1000;

/// One JSON token, as Jackson's `JsonToken`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    StartObject,
    EndObject,
    StartArray,
    EndArray,
    FieldName(String),
    Str(String),
    /// A number, with its literal text.
    Num(String),
    True,
    False,
    Null,
}

impl Token {
    /// `JsonParser.getText()` for this token.
    pub(crate) fn text(&self) -> String {
        match self {
            Token::StartObject => "{".into(),
            Token::EndObject => "}".into(),
            Token::StartArray => "[".into(),
            Token::EndArray => "]".into(),
            Token::FieldName(s) | Token::Str(s) | Token::Num(s) => s.clone(),
            Token::True => "true".into(),
            Token::False => "false".into(),
            Token::Null => "null".into(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Inside an object; `true` once at least one entry was read.
    Object(bool),
    Array(bool),
}

/// Tokenizer state.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Ctx>,
    /// Set after a field name: the next token is its value.
    after_name: bool,
    done_root: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            stack: Vec::new(),
            after_name: false,
            done_root: false,
        }
    }

    /// Build a pattern error located at the current position.
    pub(crate) fn error(&self, reason: impl Into<String>) -> PatternError {
        let (line, column) = self.line_col(self.pos);
        PatternError::new(reason, self.src, line, column)
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let upto = &self.src[..pos.min(self.src.len())];
        let line = upto.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = upto.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = upto[line_start..].chars().count() + 1;
        (line, column)
    }

    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len()
            && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn describe_char(&self, at: usize) -> String {
        let c = self.src[at..].chars().next().unwrap_or('\0');
        let code = c as u32;
        if code < 32 {
            format!("(CTRL-CHAR, code {code})")
        } else {
            format!("'{c}' (code {code})")
        }
    }

    fn unexpected(&mut self, expecting: &str) -> PatternError {
        let at = self.pos;
        let desc = self.describe_char(at);
        // Jackson reports the location of the offending character itself.
        let e = self.error(format!("Unexpected character ({desc}): {expecting}"));
        self.pos += self.src[at..]
            .chars()
            .next()
            .map(|c| c.len_utf8())
            .unwrap_or(1);
        e
    }

    fn eof_error(&self) -> PatternError {
        match self.stack.last() {
            Some(Ctx::Object(_)) => {
                self.error("Unexpected end-of-input: expected close marker for Object")
            }
            Some(Ctx::Array(_)) => {
                self.error("Unexpected end-of-input: expected close marker for Array")
            }
            None => self.error("Unexpected end-of-input"),
        }
    }

    /// Next token, `Ok(None)` at the end of the root value / input.
    pub(crate) fn next_token(&mut self) -> Result<Option<Token>, PatternError> {
        self.skip_ws();
        if self.after_name {
            self.after_name = false;
            return self.value_token().map(Some);
        }
        match self.stack.last().copied() {
            None => {
                if self.done_root {
                    return Ok(None);
                }
                if self.pos >= self.bytes.len() {
                    return Ok(None);
                }
                self.done_root = true;
                self.value_token().map(Some)
            }
            Some(Ctx::Object(seen)) => {
                let Some(b) = self.peek() else {
                    return Err(self.eof_error());
                };
                if b == b'}' {
                    self.pos += 1;
                    self.stack.pop();
                    self.mark_value_done();
                    return Ok(Some(Token::EndObject));
                }
                if seen {
                    if b != b',' {
                        return Err(
                            self.unexpected("was expecting comma to separate Object entries")
                        );
                    }
                    self.pos += 1;
                    self.skip_ws();
                }
                match self.peek() {
                    None => Err(self.eof_error()),
                    Some(b'"') => {
                        self.pos += 1;
                        let name = self.string_body()?;
                        self.skip_ws();
                        match self.peek() {
                            Some(b':') => self.pos += 1,
                            None => return Err(self.eof_error()),
                            Some(_) => {
                                return Err(self.unexpected(
                                    "was expecting a colon to separate field name and value",
                                ))
                            }
                        }
                        if let Some(Ctx::Object(s)) = self.stack.last_mut() {
                            *s = true;
                        }
                        self.after_name = true;
                        Ok(Some(Token::FieldName(name)))
                    }
                    Some(b'}') if !seen => unreachable!(),
                    Some(_) => {
                        Err(self.unexpected("was expecting double-quote to start field name"))
                    }
                }
            }
            Some(Ctx::Array(seen)) => {
                let Some(b) = self.peek() else {
                    return Err(self.eof_error());
                };
                if b == b']' {
                    self.pos += 1;
                    self.stack.pop();
                    self.mark_value_done();
                    return Ok(Some(Token::EndArray));
                }
                if seen {
                    if b != b',' {
                        return Err(
                            self.unexpected("was expecting comma to separate Array entries")
                        );
                    }
                    self.pos += 1;
                    self.skip_ws();
                }
                if let Some(Ctx::Array(s)) = self.stack.last_mut() {
                    *s = true;
                }
                self.value_token().map(Some)
            }
        }
    }

    fn mark_value_done(&mut self) {}

    /// After the root value: is only whitespace left?
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.bytes.len()
    }

    fn push(&mut self, ctx: Ctx) -> Result<(), PatternError> {
        if self.stack.len() >= MAX_NESTING {
            return Err(self.error(format!(
                "Document nesting depth ({}) exceeds the maximum allowed ({MAX_NESTING}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                self.stack.len() + 1
            )));
        }
        self.stack.push(ctx);
        Ok(())
    }

    fn value_token(&mut self) -> Result<Token, PatternError> {
        self.skip_ws();
        let Some(b) = self.peek() else {
            return Err(self.eof_error());
        };
        match b {
            b'{' => {
                self.pos += 1;
                self.push(Ctx::Object(false))?;
                Ok(Token::StartObject)
            }
            b'[' => {
                self.pos += 1;
                self.push(Ctx::Array(false))?;
                Ok(Token::StartArray)
            }
            b'"' => {
                self.pos += 1;
                Ok(Token::Str(self.string_body()?))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b']' | b'}' => Err(self.unexpected(
                "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
            )),
            _ if b.is_ascii_alphabetic() || b >= 0x80 || b == b'_' || b == b'\'' => self.word(),
            _ => Err(self.unexpected(
                "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
            )),
        }
    }

    fn word(&mut self) -> Result<Token, PatternError> {
        let start = self.pos;
        if self.bytes[start] == b'\'' {
            return Err(self.unexpected(
                "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
            ));
        }
        let rest = &self.src[start..];
        let len = rest
            .char_indices()
            .find(|&(_, c)| {
                c.is_whitespace() || matches!(c, ',' | ':' | '[' | ']' | '{' | '}' | '"')
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let word = &rest[..len];
        self.pos = start + len;
        match word {
            "true" => Ok(Token::True),
            "false" => Ok(Token::False),
            "null" => Ok(Token::Null),
            _ => Err(self.error(format!(
                "Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
            ))),
        }
    }

    fn number(&mut self) -> Result<Token, PatternError> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = start;
        if b[i] == b'-' {
            i += 1;
        }
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == int_start {
            self.pos = i;
            if i < b.len() {
                return Err(self.unexpected(
                    "expected digit (0-9) to follow minus sign, for valid numeric value",
                ));
            }
            return Err(self.error("Unexpected end-of-input in numeric value"));
        }
        if i - int_start > 1 && b[int_start] == b'0' {
            self.pos = int_start + 1;
            return Err(self.error("Invalid numeric value: Leading zeroes not allowed"));
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == f {
                self.pos = i;
                return Err(
                    self.error("Unexpected character: Decimal point not followed by a digit")
                );
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            let e = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == e {
                self.pos = i;
                return Err(
                    self.error("Unexpected character: Exponent indicator not followed by a digit")
                );
            }
        }
        self.pos = i;
        if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
            let desc = self.describe_char(i);
            self.pos = i + 1;
            return Err(self.error(format!(
                "Unexpected character ({desc}): Expected space separating root-level values"
            )));
        }
        Ok(Token::Num(self.src[start..i].to_string()))
    }

    /// Read a string body after the opening quote; returns the unescaped text.
    fn string_body(&mut self) -> Result<String, PatternError> {
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.pos < self.bytes.len() {
                let b = self.bytes[self.pos];
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.src[start..self.pos]);
            let Some(b) = self.peek() else {
                return Err(self.error(
                    "Unexpected end-of-input: was expecting closing quote for a string value",
                ));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(
                            self.error("Unexpected end-of-input in character escape sequence")
                        );
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.bytes.get(self.pos) == Some(&b'\\')
                                && self.bytes.get(self.pos + 1) == Some(&b'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let c = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                                    continue;
                                }
                                self.pos = save;
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.pos -= 1;
                            let desc = self.describe_char(self.pos);
                            self.pos += self.src[self.pos..]
                                .chars()
                                .next()
                                .map(|c| c.len_utf8())
                                .unwrap_or(1);
                            return Err(self.error(format!("Unrecognized character escape {desc}")));
                        }
                    }
                }
                _ => {
                    let desc = self.describe_char(self.pos);
                    self.pos += 1;
                    return Err(self.error(format!(
                        "Illegal unquoted character ({}): has to be escaped using backslash to be included in string value",
                        desc.trim_start_matches('(').trim_end_matches(')')
                    )));
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, PatternError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.error("Unexpected end-of-input in character escape sequence"));
            };
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    return Err(
                        self.unexpected("expected a hex-digit for character escape sequence")
                    );
                }
            };
            self.pos += 1;
            v = v * 16 + d as u32;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Result<Vec<Token>, String> {
        let mut l = Lexer::new(s);
        let mut v = Vec::new();
        loop {
            match l.next_token() {
                Ok(Some(t)) => v.push(t),
                Ok(None) => return Ok(v),
                Err(e) => return Err(e.raw_message()),
            }
        }
    }

    #[test]
    fn tokenizes_nested() {
        let t = tokens(r#"{"a": [1, "x", true, null, {"b": -2.5e3}]}"#).unwrap();
        assert_eq!(t.len(), 13);
        assert_eq!(t[4], Token::Str("x".into()));
        assert_eq!(t[9], Token::Num("-2.5e3".into()));
    }

    #[test]
    fn jackson_messages() {
        assert_eq!(
            tokens("this is valid json but not a dict").unwrap_err(),
            "Event pattern is not valid. Reason: Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: (String)\"this is valid json but not a dict\"; line: 1, column: 5]"
        );
        assert_eq!(
            tokens("{'bad': 'quotation'}").unwrap_err(),
            "Event pattern is not valid. Reason: Unexpected character (''' (code 39)): was expecting double-quote to start field name\n at [Source: (String)\"{'bad': 'quotation'}\"; line: 1, column: 2]"
        );
        assert_eq!(
            tokens("{\"not\": closed mark\"").unwrap_err(),
            "Event pattern is not valid. Reason: Unrecognized token 'closed': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: (String)\"{\"not\": closed mark\"\"; line: 1, column: 15]"
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let s = "[".repeat(5000);
        assert!(tokens(&s).unwrap_err().contains("nesting depth"));
    }
}
