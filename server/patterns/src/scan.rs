//! Event scanner: a hand-written, zero-copy JSON scanner driven by a trie of the field
//! paths that rules name. Values of fields no rule names are skipped without being
//! decoded (strings with `memchr`, containers by bracket counting); values of named
//! fields are recorded as [`Leaf`]s with their array membership, which the matcher uses
//! for event-ruler's array-consistency rule.
//!
//! Paths are dot-joined (AWS treats `{"a":{"b":1}}` and `{"a.b":1}` alike), so both rule
//! paths and event keys are split at `.` and walked segment by segment.

use crate::error::EventError;
use crate::fxhash::FxHashMap;
use memchr::{memchr, memchr2};

/// Maximum nesting of arrays/objects accepted in an event (Jackson's default limit).
pub const MAX_EVENT_DEPTH: usize = 1000;

const NO_FIELD: u32 = u32::MAX;
/// Switch a trie node from a linear child list to a hash map above this many children.
const LINEAR_CHILDREN: usize = 8;

#[derive(Default, Clone, Debug)]
struct Node {
    children: Vec<(Box<[u8]>, u32)>,
    map: Option<FxHashMap<Box<[u8]>, u32>>,
    field: u32,
    /// Live fields at or below this node; a node with 0 is treated as absent.
    live: u32,
    /// Live fields exactly at this node.
    field_live: u32,
    /// Children with `live > 0`.
    live_children: u32,
}

/// Trie of dot-separated path segments.
#[derive(Clone, Debug)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: vec![Node {
                field: NO_FIELD,
                ..Node::default()
            }],
        }
    }
}

impl Trie {
    #[inline]
    fn child(&self, node: u32, seg: &[u8]) -> Option<u32> {
        let n = &self.nodes[node as usize];
        if let Some(map) = &n.map {
            return map.get(seg).copied();
        }
        n.children
            .iter()
            .find(|(k, _)| &**k == seg)
            .map(|&(_, c)| c)
    }

    /// Live child of `node` for an undotted key, with its position among the children.
    #[inline]
    fn direct_child(&self, node: u32, key: &[u8]) -> Option<(usize, u32)> {
        let n = &self.nodes[node as usize];
        let c = match &n.map {
            Some(map) => *map.get(key)?,
            None => {
                return n
                    .children
                    .iter()
                    .position(|(k, _)| &**k == key)
                    .map(|i| (i, n.children[i].1))
                    .filter(|&(_, c)| self.nodes[c as usize].live > 0)
            }
        };
        if self.nodes[c as usize].live == 0 {
            return None;
        }
        let i = n.children.iter().position(|&(_, x)| x == c)?;
        Some((i, c))
    }

    /// Walk a (possibly dotted) key from `node`; `None` if no live path continues there.
    #[inline]
    fn walk(&self, node: u32, key: &[u8]) -> Option<u32> {
        let mut cur = node;
        let mut rest = key;
        loop {
            match memchr(b'.', rest) {
                None => {
                    let c = self.child(cur, rest)?;
                    return (self.nodes[c as usize].live > 0).then_some(c);
                }
                Some(i) => {
                    cur = self.child(cur, &rest[..i])?;
                    rest = &rest[i + 1..];
                }
            }
        }
    }

    /// Register one more live use of `path` as field `field`; returns the node.
    pub(crate) fn add(&mut self, path: &str, field: u32) {
        let mut cur = 0u32;
        self.nodes[0].live += 1;
        for seg in path.as_bytes().split(|&b| b == b'.') {
            let next = match self.child(cur, seg) {
                Some(c) => c,
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(Node {
                        field: NO_FIELD,
                        ..Node::default()
                    });
                    let n = &mut self.nodes[cur as usize];
                    n.children.push((seg.into(), id));
                    if let Some(m) = &mut n.map {
                        m.insert(seg.into(), id);
                    } else if n.children.len() > LINEAR_CHILDREN {
                        n.map = Some(n.children.iter().cloned().collect());
                    }
                    id
                }
            };
            self.nodes[next as usize].live += 1;
            if self.nodes[next as usize].live == 1 {
                self.nodes[cur as usize].live_children += 1;
            }
            cur = next;
        }
        let n = &mut self.nodes[cur as usize];
        n.field = field;
        n.field_live += 1;
    }

    /// Drop one live use of `path`.
    pub(crate) fn remove(&mut self, path: &str) {
        let mut cur = 0u32;
        self.nodes[0].live -= 1;
        for seg in path.as_bytes().split(|&b| b == b'.') {
            let Some(next) = self.child(cur, seg) else {
                return;
            };
            self.nodes[next as usize].live -= 1;
            if self.nodes[next as usize].live == 0 {
                self.nodes[cur as usize].live_children -= 1;
            }
            cur = next;
        }
        self.nodes[cur as usize].field_live -= 1;
    }

    #[inline]
    fn field_of(&self, node: u32) -> Option<u32> {
        let n = &self.nodes[node as usize];
        (n.field_live > 0).then_some(n.field)
    }

    #[inline]
    fn has_children(&self, node: u32) -> bool {
        let n = &self.nodes[node as usize];
        n.live > n.field_live
    }
}

/// Kind of a recorded leaf value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Num,
    True,
    False,
    Null,
}

/// A value found at a field some rule names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leaf {
    pub field: u32,
    pub kind: Kind,
    /// String content (unescaped) or number text: range into the input, or into
    /// `Scratch::strbuf` when `escaped`.
    pub start: u32,
    pub end: u32,
    pub escaped: bool,
    pub num: f64,
    /// Array membership: range into `Scratch::arrays` of (array id, element index).
    pub arr_start: u32,
    pub arr_len: u32,
}

/// A borrowed event value, as the value matchers see it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EvVal<'a> {
    Str(&'a [u8]),
    /// Numeric value (NaN if not representable) and literal text.
    Num(f64, &'a [u8]),
    True,
    False,
    Null,
}

/// Per-thread reusable buffers for scanning (the matcher keeps its own beside them).
#[derive(Default)]
pub(crate) struct Scratch {
    pub leaves: Vec<Leaf>,
    pub arrays: Vec<(u32, u32)>,
    pub strbuf: Vec<u8>,
    stack: Vec<(u32, u32)>,
    keybuf: Vec<u8>,
    next_array: u32,
}

impl Scratch {
    /// The value of a recorded leaf.
    #[inline]
    pub(crate) fn value<'a>(&'a self, input: &'a [u8], leaf: &Leaf) -> EvVal<'a> {
        let text = || {
            let src = if leaf.escaped {
                &self.strbuf[..]
            } else {
                input
            };
            &src[leaf.start as usize..leaf.end as usize]
        };
        match leaf.kind {
            Kind::Str => EvVal::Str(text()),
            Kind::Num => EvVal::Num(leaf.num, text()),
            Kind::True => EvVal::True,
            Kind::False => EvVal::False,
            Kind::Null => EvVal::Null,
        }
    }

    /// Array membership of a leaf.
    #[inline]
    pub(crate) fn membership(&self, leaf: &Leaf) -> &[(u32, u32)] {
        &self.arrays[leaf.arr_start as usize..(leaf.arr_start + leaf.arr_len) as usize]
    }
}

/// Bytes of a string examined 8 at a time before falling back to `memchr2`.
const SWAR_STRING_BYTES: usize = 32;

/// High bit set in each byte of `w` equal to `c` (exact for the lowest match, which is
/// all that is used: borrows only propagate upwards).
#[inline(always)]
fn has_byte(w: u64, c: u8) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (LO * c as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Whether `key` contains a `.` (a dotted key, walked segment by segment). Checked for
/// every key of every event, and keys are short: look 8 bytes at a time inline, as
/// `memchr`'s set-up (out of line, and slower still without whole-program LTO) costs
/// more than the search.
#[inline(always)]
fn has_dot(key: &[u8]) -> bool {
    if key.len() > SWAR_STRING_BYTES {
        return memchr(b'.', key).is_some();
    }
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        if has_byte(u64::from_le_bytes(w.try_into().expect("8 bytes")), b'.') != 0 {
            return true;
        }
    }
    // The last few bytes one by one (`contains` would go through the standard library's
    // `memchr`).
    for &b in words.remainder() {
        if b == b'.' {
            return true;
        }
    }
    false
}

/// Bytes ahead of the read position kept requested from memory (see [`prefetch`]).
const PREFETCH_AHEAD: usize = 256;

/// Ask the CPU to start loading the cache line holding `b[at]` (no-op past the end).
/// Events usually come from memory, not cache; requesting the next few lines while the
/// current one is being scanned overlaps their latencies instead of paying them in turn.
#[inline(always)]
fn prefetch(b: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = b.get(at) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it is only a hint
        // (never faults, reads nothing into the program) and the pointer comes from a
        // live reference into `b`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, at);
}

/// Scan `input`, recording leaves for the trie's live fields into `scratch`.
///
/// With `strict`, the whole input is read and checked; otherwise scanning stops once
/// every field the rules need has been seen (the rest is not validated).
pub(crate) fn scan(
    input: &[u8],
    trie: &Trie,
    scratch: &mut Scratch,
    strict: bool,
) -> Result<(), EventError> {
    scratch.leaves.clear();
    scratch.arrays.clear();
    scratch.strbuf.clear();
    scratch.stack.clear();
    scratch.next_array = 0;
    let mut s = Scanner {
        b: input,
        pos: 0,
        trie,
        s: scratch,
        depth: 0,
        early_exit: !strict,
        stopped: false,
    };
    s.ws();
    // The following lines are requested once the first byte has been read, not before:
    // the scan waits on that read, and with the prefetches issued ahead of it the
    // single-field benchmark rows (records read from memory one after another) measured
    // up to a quarter slower on this project's machine, depending on the rest of the
    // build (see docs/performance.md).
    let mut at = 64;
    while at <= PREFETCH_AHEAD {
        prefetch(input, at);
        at += 64;
    }
    if s.peek() != Some(b'{') {
        // Valid JSON that is not an object is "not an object"; anything else a syntax error.
        s.skip_value()?;
        s.ws();
        if s.pos != s.b.len() {
            return Err(s.err("unexpected trailing characters"));
        }
        return Err(EventError::NotAnObject);
    }
    s.pos += 1;
    s.enter()?;
    if trie.nodes[0].live > 0 {
        s.object(0)?;
    } else {
        s.skip_rest_of_container(b'}')?;
    }
    if s.stopped {
        return Ok(());
    }
    s.ws();
    if s.pos != s.b.len() {
        return Err(s.err("unexpected trailing characters"));
    }
    Ok(())
}

struct Scanner<'a, 'b> {
    b: &'a [u8],
    pos: usize,
    trie: &'b Trie,
    s: &'b mut Scratch,
    depth: usize,
    /// Stop reading an object once all the fields rules need from it were seen.
    early_exit: bool,
    /// The scan ended early at the root (the rest of the input was not read).
    stopped: bool,
}

impl Scanner<'_, '_> {
    #[inline]
    fn err(&self, reason: &'static str) -> EventError {
        EventError::Syntax {
            offset: self.pos,
            reason,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn enter(&mut self) -> Result<(), EventError> {
        self.depth += 1;
        if self.depth > MAX_EVENT_DEPTH {
            return Err(EventError::TooDeep(MAX_EVENT_DEPTH));
        }
        Ok(())
    }

    #[inline]
    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), EventError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    /// After the opening quote: returns the raw content range and whether it has escapes.
    #[inline]
    fn string_raw(&mut self) -> Result<(usize, usize, bool), EventError> {
        let start = self.pos;
        // Most strings in events (keys, ids, enum values) are short: look for the closing
        // quote or a backslash 8 bytes at a time inline before calling the vectorised
        // search, whose set-up cost dominates on short strings.
        let b = self.b;
        let mut p = start;
        let limit = b.len().min(start + SWAR_STRING_BYTES);
        while p + 8 <= limit {
            let w = u64::from_le_bytes(b[p..p + 8].try_into().expect("8 bytes"));
            let m = has_byte(w, b'"') | has_byte(w, b'\\');
            if m != 0 {
                let at = p + (m.trailing_zeros() / 8) as usize;
                if b[at] == b'"' {
                    self.pos = at + 1;
                    return Ok((start, at, false));
                }
                // A backslash: let the general loop below handle escapes.
                break;
            }
            p += 8;
        }
        self.pos = p;
        let mut escaped = false;
        loop {
            match memchr2(b'"', b'\\', &self.b[self.pos..]) {
                None => return Err(self.err("unterminated string")),
                Some(i) => {
                    let at = self.pos + i;
                    if self.b[at] == b'"' {
                        self.pos = at + 1;
                        return Ok((start, at, escaped));
                    }
                    escaped = true;
                    self.pos = at + 2;
                    if self.pos > self.b.len() {
                        return Err(self.err("unterminated string"));
                    }
                }
            }
        }
    }

    /// Decode escapes of `raw` and append to `out`.
    fn unescape(raw: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        let mut i = 0;
        while i < raw.len() {
            let c = raw[i];
            if c != b'\\' {
                out.push(c);
                i += 1;
                continue;
            }
            let e = *raw.get(i + 1).ok_or("bad escape")?;
            i += 2;
            let ch = match e {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = |s: &[u8]| -> Result<u32, &'static str> {
                        let t = std::str::from_utf8(s).map_err(|_| "bad escape")?;
                        u32::from_str_radix(t, 16).map_err(|_| "bad escape")
                    };
                    let cp = hex(raw.get(i..i + 4).ok_or("bad escape")?)?;
                    i += 4;
                    if (0xD800..0xDC00).contains(&cp)
                        && raw.get(i) == Some(&b'\\')
                        && raw.get(i + 1) == Some(&b'u')
                    {
                        if let Some(lo_bytes) = raw.get(i + 2..i + 6) {
                            let lo = hex(lo_bytes)?;
                            if (0xDC00..0xE000).contains(&lo) {
                                i += 6;
                                let c = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                let ch = char::from_u32(c).unwrap_or('\u{FFFD}');
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                continue;
                            }
                        }
                    }
                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                }
                _ => return Err("bad escape"),
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }

    fn object(&mut self, node: u32) -> Result<(), EventError> {
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        // Once every live child of this node has been seen (as a plain, undotted key),
        // the rest of the object cannot matter: stop (at the root) or skip it.
        let want = self.trie.nodes[node as usize].live_children;
        let track = want > 0 && want <= 64;
        let mut seen: u64 = 0;
        loop {
            prefetch(self.b, self.pos + PREFETCH_AHEAD);
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a field name"));
            }
            self.pos += 1;
            let (ks, ke, kesc) = self.string_raw()?;
            let mut direct = None;
            let child = if kesc {
                let mut key = std::mem::take(&mut self.s.keybuf);
                key.clear();
                let r = Self::unescape(&self.b[ks..ke], &mut key);
                let c = r.ok().and_then(|_| self.trie.walk(node, &key));
                self.s.keybuf = key;
                c
            } else {
                let key = &self.b[ks..ke];
                if track {
                    // Children are named by undotted segments: a key found among them
                    // is undotted, and only a key that is not needs the dot check.
                    direct = self.trie.direct_child(node, key);
                    match direct {
                        Some((_, c)) => Some(c),
                        None if has_dot(key) => self.trie.walk(node, key),
                        None => None,
                    }
                } else {
                    self.trie.walk(node, key)
                }
            };
            self.expect(b':', "expected ':'")?;
            self.ws();
            match child {
                Some(c) => self.value(c)?,
                None => self.skip_value()?,
            }
            if let Some((i, _)) = direct {
                if i < 64 {
                    seen |= 1 << i;
                    if seen.count_ones() == want && self.early_exit {
                        if self.depth == 1 {
                            self.stopped = true;
                            self.pos = self.b.len();
                            return Ok(());
                        }
                        return self.skip_rest_of_container(b'}');
                    }
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, node: u32) -> Result<(), EventError> {
        let id = self.s.next_array;
        self.s.next_array += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut idx = 0u32;
        loop {
            self.s.stack.push((id, idx));
            self.ws();
            self.value(node)?;
            self.s.stack.pop();
            idx += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    #[inline]
    fn record(
        &mut self,
        field: u32,
        kind: Kind,
        start: usize,
        end: usize,
        escaped: bool,
        num: f64,
    ) {
        let arr_start = self.s.arrays.len() as u32;
        let arr_len = self.s.stack.len() as u32;
        if arr_len > 0 {
            self.s.arrays.extend_from_slice(&self.s.stack);
        }
        self.s.leaves.push(Leaf {
            field,
            kind,
            start: start as u32,
            end: end as u32,
            escaped,
            num,
            arr_start,
            arr_len,
        });
    }

    /// A value at trie node `node` (which is live).
    fn value(&mut self, node: u32) -> Result<(), EventError> {
        let Some(c) = self.peek() else {
            return Err(self.err("expected a value"));
        };
        match c {
            b'{' => {
                self.pos += 1;
                self.enter()?;
                if self.trie.has_children(node) {
                    self.object(node)
                } else {
                    self.skip_rest_of_container(b'}')
                }
            }
            b'[' => {
                self.pos += 1;
                self.enter()?;
                self.array(node)
            }
            _ => {
                let Some(field) = self.trie.field_of(node) else {
                    return self.skip_value();
                };
                match c {
                    b'"' => {
                        self.pos += 1;
                        let (s, e, esc) = self.string_raw()?;
                        if esc {
                            let start = self.s.strbuf.len();
                            Self::unescape(&self.b[s..e], &mut self.s.strbuf)
                                .map_err(|r| self.err(r))?;
                            let end = self.s.strbuf.len();
                            self.record(field, Kind::Str, start, end, true, 0.0);
                        } else {
                            self.record(field, Kind::Str, s, e, false, 0.0);
                        }
                    }
                    b't' => {
                        self.literal(b"true")?;
                        self.record(field, Kind::True, 0, 0, false, 0.0);
                    }
                    b'f' => {
                        self.literal(b"false")?;
                        self.record(field, Kind::False, 0, 0, false, 0.0);
                    }
                    b'n' => {
                        self.literal(b"null")?;
                        self.record(field, Kind::Null, 0, 0, false, 0.0);
                    }
                    _ => {
                        let (s, e) = self.number()?;
                        let text = &self.b[s..e];
                        // The lexer already checked the syntax; parse never fails here.
                        let v: f64 = std::str::from_utf8(text)
                            .ok()
                            .and_then(|t| t.parse().ok())
                            .filter(|v: &f64| v.is_finite())
                            .unwrap_or(f64::NAN);
                        self.record(
                            field,
                            Kind::Num,
                            s,
                            e,
                            false,
                            if v == 0.0 { 0.0 } else { v },
                        );
                    }
                }
                Ok(())
            }
        }
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Result<(), EventError> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    #[inline]
    fn number(&mut self) -> Result<(usize, usize), EventError> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        let d = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == d || (i - d > 1 && b[d] == b'0') {
            return Err(self.err("invalid number"));
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == f {
                return Err(self.err("invalid number"));
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
                return Err(self.err("invalid number"));
            }
        }
        self.pos = i;
        Ok((start, i))
    }

    /// Skip one value of any kind.
    fn skip_value(&mut self) -> Result<(), EventError> {
        self.ws();
        let Some(c) = self.peek() else {
            return Err(self.err("expected a value"));
        };
        match c {
            b'"' => {
                self.pos += 1;
                self.string_raw().map(|_| ())
            }
            b'{' => {
                self.pos += 1;
                self.enter()?;
                self.skip_rest_of_container(b'}')
            }
            b'[' => {
                self.pos += 1;
                self.enter()?;
                self.skip_rest_of_container(b']')
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            _ => Err(self.err("expected a value")),
        }
    }

    /// Skip to the end of a container whose opening bracket was consumed (and counted
    /// by `enter`). Brackets are matched by kind; the content between is checked only
    /// lightly (strings and bracket balance), which is all that skipping needs.
    fn skip_rest_of_container(&mut self, close: u8) -> Result<(), EventError> {
        let base = self.depth;
        let mut closers: Vec<u8> = Vec::new();
        let mut want = close;
        let b = self.b;
        while self.pos < b.len() {
            let c = b[self.pos];
            match c {
                b'"' => {
                    self.pos += 1;
                    self.string_raw()?;
                    continue;
                }
                b'{' | b'[' => {
                    self.enter()?;
                    closers.push(want);
                    want = if c == b'{' { b'}' } else { b']' };
                }
                b'}' | b']' => {
                    if c != want {
                        return Err(self.err("mismatched bracket"));
                    }
                    self.depth -= 1;
                    if self.depth < base {
                        self.pos += 1;
                        return Ok(());
                    }
                    want = closers.pop().unwrap_or(close);
                }
                _ => {}
            }
            self.pos += 1;
        }
        Err(self.err("unterminated container"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Recorded = Vec<(u32, String, Vec<(u32, u32)>)>;

    fn leaves(paths: &[&str], event: &str) -> Result<Recorded, EventError> {
        let mut t = Trie::default();
        for (i, p) in paths.iter().enumerate() {
            t.add(p, i as u32);
        }
        let mut s = Scratch::default();
        scan(event.as_bytes(), &t, &mut s, true)?;
        Ok(s.leaves
            .iter()
            .map(|l| {
                let v = match s.value(event.as_bytes(), l) {
                    EvVal::Str(x) => String::from_utf8_lossy(x).into_owned(),
                    EvVal::Num(_, t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                };
                (l.field, v, s.membership(l).to_vec())
            })
            .collect())
    }

    #[test]
    fn records_named_fields_only() {
        let r = leaves(
            &["a.b", "c"],
            r#"{"x": {"y": [1, {"z": "q"}]}, "a": {"b": "v\"w"}, "c": [1, 2.5]}"#,
        )
        .unwrap();
        assert_eq!(r[0], (0, "v\"w".into(), vec![]));
        assert_eq!(r[1], (1, "1".into(), vec![(0, 0)]));
        assert_eq!(r[2], (1, "2.5".into(), vec![(0, 1)]));
    }

    #[test]
    fn strings_of_every_length_and_escape_position() {
        // Crosses the 8-byte word and 32-byte inline-search boundaries of `string_raw`.
        for n in 0..80 {
            let plain = "x".repeat(n);
            let ev = format!(r#"{{"k{plain}": 1, "a": "{plain}", "b": "{plain}"}}"#);
            let r = leaves(&["a", "b"], &ev).unwrap();
            assert_eq!(r[0].1, plain);
            assert_eq!(r[1].1, plain);
            for k in 0..=n {
                for (esc, ch) in [(r#"\""#, "\""), (r#"\\"#, "\\"), (r#"\n"#, "\n")] {
                    let raw = format!("{}{esc}{}", &plain[..k], &plain[k..]);
                    let want = format!("{}{ch}{}", &plain[..k], &plain[k..]);
                    let ev = format!(r#"{{"k{raw}": 1, "a": "{raw}", "b": 2}}"#);
                    let r = leaves(&["a", "b"], &ev).unwrap();
                    assert_eq!(r[0].1, want, "n={n} k={k}");
                    assert_eq!(r[1].1, "2");
                }
            }
        }
        assert!(leaves(&["a"], &format!(r#"{{"a": "{}"#, "y".repeat(40))).is_err());
    }

    #[test]
    fn dotted_keys_join() {
        let r = leaves(&["a.b.c"], r#"{"a.b": {"c": 1}, "a": {"b.c": 2}}"#).unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn dot_found_at_every_position_of_short_and_long_keys() {
        for len in 0..=48 {
            let plain = vec![b'k'; len];
            assert!(!has_dot(&plain), "no dot in {len} bytes");
            for at in 0..len {
                let mut key = plain.clone();
                key[at] = b'.';
                assert!(has_dot(&key), "dot at {at} of {len}");
            }
        }
        // A dotted key is walked segment by segment wherever its dot falls: in the first
        // word, a later word, the tail after the words, or past the inline-checked bytes.
        for head in [1, 9, 17, 30, 40] {
            let path = format!("{}.b", "a".repeat(head));
            let r = leaves(&[&path, "z"], &format!(r#"{{"{path}": 1, "z": 2}}"#)).unwrap();
            assert_eq!(r.len(), 2, "dotted key with the dot after {head} bytes");
        }
    }

    #[test]
    fn errors_not_panics() {
        assert!(leaves(&["a"], r#"{"a": }"#).is_err());
        assert!(leaves(&["a"], r#"{"a": 1"#).is_err());
        assert_eq!(leaves(&["a"], "[1]").unwrap_err(), EventError::NotAnObject);
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(20000), "]".repeat(20000));
        assert_eq!(
            leaves(&["a"], &deep).unwrap_err(),
            EventError::TooDeep(MAX_EVENT_DEPTH)
        );
        assert_eq!(
            leaves(&["b"], &deep).unwrap_err(),
            EventError::TooDeep(MAX_EVENT_DEPTH)
        );
    }
}
