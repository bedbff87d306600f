//! Pattern compiler: validates an event pattern while tokenizing it (in the same order,
//! with the same reasons as EventBridge's compiler) and produces its *branches*: one
//! conjunction of field conditions per `$or` alternative.

use crate::error::PatternError;
use crate::ip::IpRange;
use crate::lexer::{Lexer, Token};
use crate::number::comparable;
use crate::wildcard::Wildcard;

/// Maximum number of `$or` alternatives one pattern may expand into (a crate limit that
/// keeps memory bounded; AWS's own limit is not documented). Each `$or` multiplies the
/// count, so without a cap a 2 KB pattern could expand into 2^60 branches.
pub const MAX_OR_BRANCHES: usize = 1024;

/// A numeric interval; `-inf`/`+inf` for unbounded sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub lo: f64,
    pub lo_open: bool,
    pub hi: f64,
    pub hi_open: bool,
}

impl Range {
    pub(crate) fn contains(&self, v: f64) -> bool {
        (if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        }) && (if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        })
    }
}

/// The `anything-but` forms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnythingBut {
    /// Not one of these strings.
    Strings(Vec<String>),
    /// Not one of these numbers.
    Numbers(Vec<f64>),
    /// Not a string with one of these prefixes.
    Prefix(Vec<String>),
    /// Not a string with one of these suffixes.
    Suffix(Vec<String>),
    /// Not equal, ignoring case, to one of these (stored lowercased).
    IgnoreCase(Vec<String>),
    /// Not matching one of these wildcards.
    Wildcard(Vec<Wildcard>),
}

/// One value matcher (one element of a field's pattern array).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValuePattern {
    ExactStr(String),
    /// A number literal: matches numerically (if comparable) or by identical text.
    ExactNum {
        text: String,
        num: Option<f64>,
    },
    True,
    False,
    Null,
    Prefix(String),
    /// Stored lowercased.
    PrefixIc(String),
    Suffix(String),
    /// Stored lowercased.
    SuffixIc(String),
    /// Stored lowercased.
    EqIc(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Cidr(IpRange),
    Exists(bool),
}

/// One `$or` alternative: field path -> the values it may take (any of them).
pub(crate) type Branch = Vec<(String, Vec<ValuePattern>)>;

const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// Lowercase for the ignore-case forms (ASCII fast path).
pub(crate) fn lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// Validate and compile `src` into its branches.
pub(crate) fn compile(src: &str) -> Result<Vec<Branch>, PatternError> {
    let mut c = Compiler {
        lx: Lexer::new(src),
    };
    match c.next()? {
        Some(Token::StartObject) => {}
        _ => return Err(c.lx.error("Filter is not an object")),
    }
    let mut rules: Vec<Branch> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    c.object(&mut rules, &mut path, false)?;
    Ok(rules)
}

struct Compiler<'a> {
    lx: Lexer<'a>,
}

impl Compiler<'_> {
    fn next(&mut self) -> Result<Option<Token>, PatternError> {
        self.lx.next_token()
    }

    fn err<T>(&self, reason: impl Into<String>) -> Result<T, PatternError> {
        Err(self.lx.error(reason))
    }

    fn object(
        &mut self,
        rules: &mut Vec<Branch>,
        path: &mut Vec<String>,
        in_or: bool,
    ) -> Result<(), PatternError> {
        let mut fields_present = false;
        loop {
            let name = match self.next()? {
                Some(Token::EndObject) | None => break,
                Some(Token::FieldName(n)) => n,
                Some(_) => return self.err("Unexpected token"),
            };
            fields_present = true;
            if name == "$or" {
                self.or(rules, path)?;
                continue;
            }
            if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
                return self.err(format!(
                    "{name} is Ruler reserved fieldName which cannot be used inside $or."
                ));
            }
            match self.next()? {
                Some(Token::StartObject) => {
                    path.push(name);
                    self.object(rules, path, in_or)?;
                    path.pop();
                }
                Some(Token::StartArray) => {
                    let mut full = path.join(".");
                    if !full.is_empty() {
                        full.push('.');
                    }
                    full.push_str(&name);
                    self.write_rules(rules, full)?;
                }
                _ => return self.err(format!("\"{name}\" must be an object or an array")),
            }
        }
        if !fields_present {
            return self.err("Empty objects are not allowed");
        }
        Ok(())
    }

    fn or(&mut self, rules: &mut Vec<Branch>, path: &mut Vec<String>) -> Result<(), PatternError> {
        let current = std::mem::take(rules);
        if self.next()? != Some(Token::StartArray) {
            return self.err("It must be an Array followed with $or.");
        }
        let mut count = 0;
        loop {
            match self.next()? {
                Some(Token::EndArray) | None => break,
                Some(Token::StartObject) => {
                    count += 1;
                    let mut new_rules = current.clone();
                    if new_rules.is_empty() {
                        new_rules.push(Vec::new());
                    }
                    self.object(&mut new_rules, path, true)?;
                    if rules.len() + new_rules.len() > MAX_OR_BRANCHES {
                        return self.err(format!(
                            "Too many $or combinations: the pattern expands into more than {MAX_OR_BRANCHES} alternatives"
                        ));
                    }
                    rules.extend(new_rules);
                }
                Some(_) => {
                    return self.err("Only JSON object is allowed in array of $or relationship.")
                }
            }
        }
        if count < 2 {
            return self.err("There must have at least 2 Objects in $or relationship.");
        }
        Ok(())
    }

    fn write_rules(&mut self, rules: &mut Vec<Branch>, name: String) -> Result<(), PatternError> {
        let mut values = Vec::new();
        loop {
            match self.next()? {
                Some(Token::EndArray) | None => break,
                Some(Token::StartObject) => values.push(self.match_expression()?),
                Some(Token::Str(s)) => values.push(ValuePattern::ExactStr(s)),
                Some(Token::Num(t)) => {
                    let num = comparable(&t).ok();
                    values.push(ValuePattern::ExactNum { text: t, num });
                }
                Some(Token::Null) => values.push(ValuePattern::Null),
                Some(Token::True) => values.push(ValuePattern::True),
                Some(Token::False) => values.push(ValuePattern::False),
                Some(_) => {
                    return self.err("Match value must be String, number, true, false, or null")
                }
            }
        }
        if values.is_empty() {
            return self.err("Empty arrays are not allowed");
        }
        if rules.is_empty() {
            rules.push(Vec::new());
        }
        for rule in rules.iter_mut() {
            // Later duplicates of a key replace earlier ones (Java Map.put).
            if let Some(slot) = rule.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = values.clone();
            } else {
                rule.push((name.clone(), values.clone()));
            }
        }
        Ok(())
    }

    fn expect_end_object(&mut self, reason: &str) -> Result<(), PatternError> {
        if self.next()? != Some(Token::EndObject) {
            return self.err(reason.to_string());
        }
        Ok(())
    }

    fn match_expression(&mut self) -> Result<ValuePattern, PatternError> {
        const ONE_KEY: &str = "Only one key allowed in match expression";
        let op = match self.next()? {
            Some(Token::FieldName(n)) => n,
            _ => return self.err("Match expression name not found"),
        };
        match op.as_str() {
            "exactly" => {
                let Some(Token::Str(s)) = self.next()? else {
                    return self.err("exact match pattern must be a string");
                };
                self.expect_end_object(ONE_KEY)?;
                Ok(ValuePattern::ExactStr(s))
            }
            "prefix" | "suffix" => {
                let is_prefix = op == "prefix";
                match self.next()? {
                    Some(Token::StartObject) => {
                        let kind = if is_prefix { "Prefix" } else { "Suffix" };
                        let inner = match self.next()? {
                            Some(Token::FieldName(n)) => n,
                            _ => return self.err(format!("{kind} expression name not found")),
                        };
                        if inner != "equals-ignore-case" {
                            return self.err(format!("Unsupported {op} pattern: {inner}"));
                        }
                        let Some(Token::Str(s)) = self.next()? else {
                            return self.err("equals-ignore-case match pattern must be a string");
                        };
                        self.expect_end_object(ONE_KEY)?;
                        self.expect_end_object(ONE_KEY)?;
                        let s = lower(&s);
                        Ok(if is_prefix {
                            ValuePattern::PrefixIc(s)
                        } else {
                            ValuePattern::SuffixIc(s)
                        })
                    }
                    Some(Token::Str(s)) => {
                        self.expect_end_object(ONE_KEY)?;
                        Ok(if is_prefix {
                            ValuePattern::Prefix(s)
                        } else {
                            ValuePattern::Suffix(s)
                        })
                    }
                    _ => self.err(format!("{op} match pattern must be a string")),
                }
            }
            "numeric" => {
                if self.next()? != Some(Token::StartArray) {
                    return self.err("Value of numeric must be an array.");
                }
                let range = self.numeric()?;
                self.expect_end_object("Too many elements in numeric expression")?;
                Ok(ValuePattern::Numeric(range))
            }
            "anything-but" => self.anything_but(),
            "exists" => {
                let v = match self.next()? {
                    Some(Token::True) => true,
                    Some(Token::False) => false,
                    _ => return self.err("exists match pattern must be either true or false."),
                };
                self.expect_end_object(ONE_KEY)?;
                Ok(ValuePattern::Exists(v))
            }
            "cidr" => {
                let Some(Token::Str(s)) = self.next()? else {
                    return self.err("prefix match pattern must be a string");
                };
                let range = IpRange::parse_cidr(&s).or_else(|e| self.err(e))?;
                self.expect_end_object(ONE_KEY)?;
                Ok(ValuePattern::Cidr(range))
            }
            "equals-ignore-case" => {
                let Some(Token::Str(s)) = self.next()? else {
                    return self.err("equals-ignore-case match pattern must be a string");
                };
                self.expect_end_object(ONE_KEY)?;
                Ok(ValuePattern::EqIc(lower(&s)))
            }
            "wildcard" => {
                let Some(Token::Str(s)) = self.next()? else {
                    return self.err("wildcard match pattern must be a string");
                };
                let w = Wildcard::parse(&s).or_else(|e| self.err(e))?;
                self.expect_end_object(ONE_KEY)?;
                Ok(ValuePattern::Wildcard(w))
            }
            _ => self.err(format!("Unrecognized match type {op}")),
        }
    }

    fn numeric_value(&mut self, tok: Option<Token>, op: &str) -> Result<f64, PatternError> {
        let label = if op == "=" { "equals" } else { op };
        match tok {
            Some(Token::Num(t)) => comparable(&t).or_else(|e| self.err(e)),
            _ => self.err(format!("Value of {label} must be numeric")),
        }
    }

    fn numeric(&mut self) -> Result<Range, PatternError> {
        const TOO_MANY: &str = "Too many elements in numeric expression";
        let op = match self.next()? {
            Some(Token::Str(s)) => s,
            other => {
                let text = other.map(|t| t.text()).unwrap_or_default();
                return self.err(format!("Invalid member in numeric match: {text}"));
            }
        };
        let tok = self.next()?;
        let inf = f64::INFINITY;
        match op.as_str() {
            "=" => {
                let v = self.numeric_value(tok, &op)?;
                if self.next()? != Some(Token::EndArray) {
                    return self.err(TOO_MANY);
                }
                Ok(Range {
                    lo: v,
                    lo_open: false,
                    hi: v,
                    hi_open: false,
                })
            }
            ">=" | ">" => {
                let lo = self.numeric_value(tok, &op)?;
                let lo_open = op == ">";
                match self.next()? {
                    Some(Token::EndArray) => Ok(Range {
                        lo,
                        lo_open,
                        hi: inf,
                        hi_open: true,
                    }),
                    Some(Token::Str(op2)) => {
                        let hi_open = match op2.as_str() {
                            "<" => true,
                            "<=" => false,
                            _ => return self.err(format!("Bad numeric range operator: {op2}")),
                        };
                        let tok = self.next()?;
                        let hi = self.numeric_value(tok, &op2)?;
                        if self.next()? != Some(Token::EndArray) {
                            return self.err("Too many terms in numeric range expression");
                        }
                        if lo >= hi {
                            return self.err("Bottom must be less than top");
                        }
                        Ok(Range {
                            lo,
                            lo_open,
                            hi,
                            hi_open,
                        })
                    }
                    other => {
                        let text = other.map(|t| t.text()).unwrap_or_default();
                        self.err(format!("Bad value in numeric range: {text}"))
                    }
                }
            }
            "<=" | "<" => {
                let hi = self.numeric_value(tok, &op)?;
                if self.next()? != Some(Token::EndArray) {
                    return self.err(TOO_MANY);
                }
                Ok(Range {
                    lo: -inf,
                    lo_open: true,
                    hi,
                    hi_open: op == "<",
                })
            }
            _ => self.err(format!("Unrecognized numeric range operator: {op}")),
        }
    }

    fn anything_but(&mut self) -> Result<ValuePattern, PatternError> {
        #[derive(PartialEq, Clone, Copy)]
        enum Kind {
            Plain,
            IgnoreCase,
            Prefix,
            Suffix,
            Wildcard,
        }
        let mut kind = Kind::Plain;
        let mut tok = self.next()?;
        if tok == Some(Token::StartObject) {
            let inner = match self.next()? {
                Some(Token::FieldName(n)) => n,
                _ => return self.err("Anything-But expression name not found"),
            };
            kind = match inner.as_str() {
                "equals-ignore-case" => Kind::IgnoreCase,
                "prefix" => Kind::Prefix,
                "suffix" => Kind::Suffix,
                "wildcard" => Kind::Wildcard,
                _ => return self.err(format!("Unsupported anything-but pattern: {inner}")),
            };
            tok = self.next()?;
        }
        let is_array = tok == Some(Token::StartArray);
        if !matches!(
            tok,
            Some(Token::StartArray) | Some(Token::Str(_)) | Some(Token::Num(_))
        ) {
            return self
                .err("Value of anything-but must be an array or single string/number value.");
        }
        let set_error = |k: Kind| {
            match k {
            Kind::IgnoreCase => "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
            Kind::Wildcard => "wildcard match pattern must be a string",
            _ => "prefix/suffix match pattern must be a string",
        }
        };
        let result = if kind == Kind::Plain {
            if is_array {
                let mut strings = Vec::new();
                let mut numbers = Vec::new();
                loop {
                    match self.next()? {
                        Some(Token::EndArray) | None => break,
                        Some(Token::Str(s)) => strings.push(s),
                        Some(Token::Num(t)) => {
                            numbers.push(comparable(&t).or_else(|e| self.err(e))?)
                        }
                        Some(_) => {
                            return self.err(
                                "Inside anything but list, start|null|boolean is not supported.",
                            )
                        }
                    }
                }
                if strings.is_empty() == numbers.is_empty() {
                    return self.err(
                        "Inside anything but list, either all values are number or string, mixed type is not supported",
                    );
                }
                if numbers.is_empty() {
                    AnythingBut::Strings(strings)
                } else {
                    AnythingBut::Numbers(numbers)
                }
            } else {
                match tok {
                    Some(Token::Str(s)) => AnythingBut::Strings(vec![s]),
                    Some(Token::Num(t)) => {
                        AnythingBut::Numbers(vec![comparable(&t).or_else(|e| self.err(e))?])
                    }
                    _ => unreachable!("checked above"),
                }
            }
        } else {
            let mut texts = Vec::new();
            if is_array {
                loop {
                    match self.next()? {
                        Some(Token::EndArray) | None => break,
                        Some(Token::Str(s)) => {
                            if matches!(kind, Kind::Prefix | Kind::Suffix) && s.is_empty() {
                                return self.err("Null prefix/suffix not allowed");
                            }
                            texts.push(s);
                        }
                        Some(_) => return self.err(set_error(kind)),
                    }
                }
            } else {
                match tok {
                    Some(Token::Str(s)) => {
                        if matches!(kind, Kind::Prefix | Kind::Suffix) && s.is_empty() {
                            return self.err("Null prefix/suffix not allowed");
                        }
                        texts.push(s);
                    }
                    _ => return self.err(set_error(kind)),
                }
            }
            match kind {
                Kind::IgnoreCase => {
                    AnythingBut::IgnoreCase(texts.iter().map(|s| lower(s)).collect())
                }
                Kind::Prefix => AnythingBut::Prefix(texts),
                Kind::Suffix => AnythingBut::Suffix(texts),
                Kind::Wildcard => {
                    let mut ws = Vec::with_capacity(texts.len());
                    for t in &texts {
                        ws.push(Wildcard::parse(t).or_else(|e| self.err(e))?);
                    }
                    AnythingBut::Wildcard(ws)
                }
                Kind::Plain => unreachable!(),
            }
        };
        self.expect_end_object("Too many elements in numeric expression")?;
        if kind != Kind::Plain {
            self.expect_end_object("Too many elements in numeric expression")?;
        }
        Ok(ValuePattern::AnythingBut(result))
    }
}
