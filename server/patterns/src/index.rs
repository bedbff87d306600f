//! Per-field value indexes: for one field path, every value matcher of every rule, stored
//! so that the cost of matching one event value does not grow with the number of rules
//! for the common operators:
//!
//! * exact strings / numbers / literals: hash maps;
//! * prefixes and suffixes (and their ignore-case forms): hash maps keyed by the affix,
//!   probed once per *distinct affix length* (bounded by the longest affix, not by the
//!   number of rules);
//! * `equals-ignore-case`: a hash map keyed by the lowercased value;
//! * numeric ranges: a sorted elementary-interval table built lazily, binary-searched;
//! * the rest (wildcards, anything-but forms, cidr, IP literals): evaluated one by one.

use crate::compile::{lower, AnythingBut, Range, ValuePattern};
use crate::fxhash::FxHashMap;
use crate::ip::{looks_like_ip, parse_ip};
use crate::scan::EvVal;
use crate::wildcard::{bytes_eq, Wildcard};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Condition ids are `u32` indexes into the matcher's condition table.
pub(crate) type CondId = u32;

/// Evaluate one value matcher against one event value (the reference semantics; the
/// indexes below must agree with it).
pub(crate) fn eval(vp: &ValuePattern, v: &EvVal<'_>) -> bool {
    use ValuePattern as P;
    match (vp, v) {
        (P::ExactStr(s), EvVal::Str(x)) => {
            s.as_bytes() == *x || (looks_like_ip(s) && ip_equal(s, x))
        }
        (P::ExactNum { text, num }, EvVal::Num(n, t)) => {
            num.is_some_and(|p| p == *n) || text.as_bytes() == *t
        }
        (P::True, EvVal::True) | (P::False, EvVal::False) | (P::Null, EvVal::Null) => true,
        (P::Prefix(p), EvVal::Str(x)) => x.starts_with(p.as_bytes()),
        (P::Suffix(p), EvVal::Str(x)) => x.ends_with(p.as_bytes()),
        (P::PrefixIc(p), EvVal::Str(x)) => lower_bytes(x).starts_with(p.as_str()),
        (P::SuffixIc(p), EvVal::Str(x)) => lower_bytes(x).ends_with(p.as_str()),
        (P::EqIc(p), EvVal::Str(x)) => lower_bytes(x) == *p,
        (P::Wildcard(w), EvVal::Str(x)) => w.matches(x),
        (P::Numeric(r), EvVal::Num(n, _)) => r.contains(*n),
        (P::Cidr(r), EvVal::Str(x)) => std::str::from_utf8(x)
            .ok()
            .and_then(parse_ip)
            .is_some_and(|ip| r.contains(ip)),
        (P::Exists(e), _) => *e,
        (P::AnythingBut(ab), v) => !anything_but_excludes(ab, v),
        _ => false,
    }
}

fn ip_equal(pattern: &str, x: &[u8]) -> bool {
    match (
        parse_ip(pattern),
        std::str::from_utf8(x).ok().and_then(parse_ip),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn lower_bytes(x: &[u8]) -> String {
    lower(&String::from_utf8_lossy(x))
}

/// Is the value one that the anything-but excludes?
fn anything_but_excludes(ab: &AnythingBut, v: &EvVal<'_>) -> bool {
    match (ab, v) {
        (AnythingBut::Strings(list), EvVal::Str(x)) => list.iter().any(|s| s.as_bytes() == *x),
        (AnythingBut::Numbers(list), EvVal::Num(n, _)) => list.contains(n),
        (AnythingBut::Prefix(list), EvVal::Str(x)) => {
            list.iter().any(|p| x.starts_with(p.as_bytes()))
        }
        (AnythingBut::Suffix(list), EvVal::Str(x)) => {
            list.iter().any(|p| x.ends_with(p.as_bytes()))
        }
        (AnythingBut::IgnoreCase(list), EvVal::Str(x)) => {
            let l = lower_bytes(x);
            list.contains(&l)
        }
        (AnythingBut::Wildcard(list), EvVal::Str(x)) => list.iter().any(|w| w.matches(x)),
        _ => false,
    }
}

/// The ids stored under one key of an index. Most keys are named by a single condition
/// (or branch), which is then kept inline: a lookup reads no second allocation, and with
/// thousands of rules that allocation is rarely in cache.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    /// Append the ids to `out`.
    #[inline]
    pub(crate) fn extend_into(&self, out: &mut Vec<u32>) {
        match self {
            Ids::One(x) => out.push(*x),
            Ids::Many(v) => out.extend_from_slice(v),
        }
    }

    pub(crate) fn push(&mut self, x: u32) {
        match self {
            Ids::One(y) => *self = Ids::Many(vec![*y, x]),
            Ids::Many(v) => v.push(x),
        }
    }

    /// Remove every occurrence of `x` (`remove_all`) or one (`!remove_all`); `true` if
    /// no id is left.
    pub(crate) fn remove(&mut self, x: u32, remove_all: bool) -> bool {
        match self {
            Ids::One(y) => *y == x,
            Ids::Many(v) => {
                if remove_all {
                    v.retain(|&y| y != x);
                } else if let Some(i) = v.iter().position(|&y| y == x) {
                    v.swap_remove(i);
                }
                match v.len() {
                    0 => true,
                    1 => {
                        *self = Ids::One(v[0]);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

/// A map key of bytes, kept inline up to [`INLINE_KEY`] bytes (most values rules name:
/// names, ids, account numbers, short prefixes), so confirming a lookup's match reads no
/// second allocation. Hashes, compares and orders as the bytes it holds.
#[derive(Clone)]
pub(crate) enum ByteKey {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<[u8]>),
}

/// Bytes a [`ByteKey`] holds inline (it is then as large as a boxed slice plus a word).
const INLINE_KEY: usize = 22;

impl ByteKey {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            ByteKey::Inline(n, b) => &b[..*n as usize],
            ByteKey::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for ByteKey {
    fn from(b: &[u8]) -> ByteKey {
        if b.len() <= INLINE_KEY {
            let mut a = [0; INLINE_KEY];
            a[..b.len()].copy_from_slice(b);
            ByteKey::Inline(b.len() as u8, a)
        } else {
            ByteKey::Heap(b.into())
        }
    }
}

impl std::borrow::Borrow<[u8]> for ByteKey {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for ByteKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for ByteKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ByteKey {}

impl PartialOrd for ByteKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByteKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for ByteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

pub(crate) fn add_to<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Ids>, k: K, c: u32) {
    match map.entry(k) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(c),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Ids::One(c));
        }
    }
}

/// Remove `c` from the ids under `k` (every occurrence, or one if `!remove_all`),
/// dropping the key when none is left.
pub(crate) fn remove_from<K, Q>(map: &mut FxHashMap<K, Ids>, k: &Q, c: u32, remove_all: bool)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(v) = map.get_mut(k) {
        if v.remove(c, remove_all) {
            map.remove(k);
        }
    }
}

/// Prefixes (or suffixes) keyed by the affix, with the set of distinct lengths.
#[derive(Default, Debug)]
struct AffixIndex {
    map: FxHashMap<ByteKey, Ids>,
    len_counts: BTreeMap<usize, usize>,
    lens: Vec<usize>,
    /// With few distinct affixes, a copy of `map` compared entry by entry (cheaper than
    /// hashing the value once per distinct length); `None` above [`AFFIX_LINEAR_MAX`].
    small: Option<Vec<AffixEntry>>,
}

/// One affix and the conditions that use it.
type AffixEntry = (ByteKey, Ids);

/// At most this many distinct affixes are compared one by one instead of hashed.
const AFFIX_LINEAR_MAX: usize = 8;

impl AffixIndex {
    fn add(&mut self, affix: &str, c: CondId) {
        add_to(&mut self.map, affix.as_bytes().into(), c);
        *self.len_counts.entry(affix.len()).or_default() += 1;
        self.lens = self.len_counts.keys().copied().collect();
        self.refresh_small();
    }

    fn refresh_small(&mut self) {
        self.small = (self.map.len() <= AFFIX_LINEAR_MAX).then(|| {
            let mut v: Vec<_> = self
                .map
                .iter()
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect();
            v.sort_unstable();
            v
        });
    }

    fn remove(&mut self, affix: &str, c: CondId) {
        remove_from(&mut self.map, affix.as_bytes(), c, true);
        if let Some(n) = self.len_counts.get_mut(&affix.len()) {
            *n -= 1;
            if *n == 0 {
                self.len_counts.remove(&affix.len());
            }
        }
        self.lens = self.len_counts.keys().copied().collect();
        self.refresh_small();
    }

    #[inline]
    fn lookup(&self, x: &[u8], suffix: bool, out: &mut Vec<CondId>) {
        if let Some(small) = &self.small {
            for (k, v) in small {
                let k = k.as_bytes();
                let l = k.len();
                if l <= x.len() {
                    let part = if suffix { &x[x.len() - l..] } else { &x[..l] };
                    if bytes_eq(part, k) {
                        v.extend_into(out);
                    }
                }
            }
            return;
        }
        for &l in &self.lens {
            if l > x.len() {
                break;
            }
            let key = if suffix { &x[x.len() - l..] } else { &x[..l] };
            if let Some(v) = self.map.get(key) {
                v.extend_into(out);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }
}

/// Elementary-interval table for numeric ranges.
#[derive(Debug, Default)]
struct RangeTable {
    /// Sorted distinct finite endpoints.
    bounds: Vec<f64>,
    /// Conditions containing exactly `bounds[i]`.
    at: Vec<Vec<CondId>>,
    /// Conditions containing the open gap below `bounds[i]` (index `bounds.len()`: above the last).
    below: Vec<Vec<CondId>>,
}

/// Above this many ranges on one field the lazy table is used instead of a linear scan.
const RANGE_TABLE_MIN: usize = 8;
/// Cap on table entries (ranges times covered intervals) before falling back to a scan.
const RANGE_TABLE_MAX_ENTRIES: usize = 4_000_000;

impl RangeTable {
    fn build(ranges: &[(Range, CondId)]) -> Option<RangeTable> {
        let mut bounds: Vec<f64> = ranges
            .iter()
            .flat_map(|(r, _)| [r.lo, r.hi])
            .filter(|v| v.is_finite())
            .collect();
        bounds.sort_by(|a, b| a.total_cmp(b));
        bounds.dedup();
        let n = bounds.len();
        let mut t = RangeTable {
            at: vec![Vec::new(); n],
            below: vec![Vec::new(); n + 1],
            bounds,
        };
        let mut entries = 0usize;
        for &(r, c) in ranges {
            let pos = |v: f64| t.bounds.partition_point(|&b| b < v);
            // Points: every bound inside [lo, hi] that the range contains.
            let p_lo = if r.lo.is_finite() { pos(r.lo) } else { 0 };
            let p_hi = if r.hi.is_finite() { pos(r.hi) + 1 } else { n };
            for i in p_lo..p_hi.min(n) {
                if r.contains(t.bounds[i]) {
                    t.at[i].push(c);
                    entries += 1;
                }
            }
            // Gaps: gap g is (bounds[g-1], bounds[g]); it lies inside the range iff both
            // of its ends lie within [lo, hi], since lo and hi are bounds themselves.
            let g_lo = if r.lo.is_finite() { pos(r.lo) + 1 } else { 0 };
            let g_hi = if r.hi.is_finite() { pos(r.hi) } else { n };
            for g in g_lo..=g_hi.min(n) {
                t.below[g].push(c);
                entries += 1;
            }
            if entries > RANGE_TABLE_MAX_ENTRIES {
                return None;
            }
        }
        for v in t.at.iter_mut().chain(t.below.iter_mut()) {
            v.sort_unstable();
            v.dedup();
        }
        Some(t)
    }

    #[inline]
    fn lookup(&self, x: f64, out: &mut Vec<CondId>) {
        let i = self.bounds.partition_point(|&b| b < x);
        if i < self.bounds.len() && self.bounds[i] == x {
            out.extend_from_slice(&self.at[i]);
        } else {
            out.extend_from_slice(&self.below[i]);
        }
    }
}

/// All value matchers on one field path.
#[derive(Default, Debug)]
pub(crate) struct FieldIndex {
    exact_str: FxHashMap<ByteKey, Ids>,
    exact_num: FxHashMap<u64, Ids>,
    exact_num_text: FxHashMap<ByteKey, Ids>,
    lit_true: Vec<CondId>,
    lit_false: Vec<CondId>,
    lit_null: Vec<CondId>,
    prefix: AffixIndex,
    suffix: AffixIndex,
    prefix_ic: AffixIndex,
    suffix_ic: AffixIndex,
    eq_ic: FxHashMap<ByteKey, Ids>,
    exists: Vec<CondId>,
    ranges: Vec<(Range, CondId)>,
    range_table: OnceLock<Option<RangeTable>>,
    /// Wildcards, evaluated one by one (each rejects most values by its literal prefix,
    /// suffix and length before searching).
    wildcards: Vec<(Wildcard, CondId)>,
    /// Evaluated one by one: anything-but, cidr, IP-shaped exact strings.
    others: Vec<(ValuePattern, CondId)>,
    has_str_others: bool,
    /// Value matchers stored (lets a lookup on an empty index be skipped).
    entries: usize,
}

#[inline]
pub(crate) fn num_key(v: f64) -> u64 {
    (if v == 0.0 { 0.0 } else { v }).to_bits()
}

impl FieldIndex {
    /// Add value matcher `vp` of condition `c`. `Exists(false)` is not indexed (absence is
    /// handled by the condition itself).
    pub(crate) fn add(&mut self, vp: &ValuePattern, c: CondId) {
        use ValuePattern as P;
        self.entries += 1;
        match vp {
            P::ExactStr(s) => {
                add_to(&mut self.exact_str, s.as_bytes().into(), c);
                if looks_like_ip(s) && parse_ip(s).is_some() {
                    self.others.push((vp.clone(), c));
                }
            }
            P::ExactNum { text, num } => match num {
                Some(n) => add_to(&mut self.exact_num, num_key(*n), c),
                None => add_to(&mut self.exact_num_text, text.as_bytes().into(), c),
            },
            P::True => self.lit_true.push(c),
            P::False => self.lit_false.push(c),
            P::Null => self.lit_null.push(c),
            P::Prefix(p) => self.prefix.add(p, c),
            P::Suffix(p) => self.suffix.add(p, c),
            P::PrefixIc(p) => self.prefix_ic.add(p, c),
            P::SuffixIc(p) => self.suffix_ic.add(p, c),
            P::EqIc(p) => add_to(&mut self.eq_ic, p.as_bytes().into(), c),
            P::Exists(true) => self.exists.push(c),
            P::Exists(false) => {}
            P::Numeric(r) if r.lo == r.hi => add_to(&mut self.exact_num, num_key(r.lo), c),
            P::Numeric(r) => {
                self.ranges.push((*r, c));
                self.range_table = OnceLock::new();
            }
            P::Wildcard(w) => self.wildcards.push((w.clone(), c)),
            P::AnythingBut(_) | P::Cidr(_) => self.others.push((vp.clone(), c)),
        }
        self.refresh();
    }

    /// Remove value matcher `vp` of condition `c` (inverse of [`FieldIndex::add`]).
    pub(crate) fn remove(&mut self, vp: &ValuePattern, c: CondId) {
        use ValuePattern as P;
        self.entries -= 1;
        match vp {
            P::ExactStr(s) => {
                remove_from(&mut self.exact_str, s.as_bytes(), c, true);
                self.others.retain(|(_, x)| *x != c);
            }
            P::ExactNum { text, num } => match num {
                Some(n) => remove_from(&mut self.exact_num, &num_key(*n), c, true),
                None => remove_from(&mut self.exact_num_text, text.as_bytes(), c, true),
            },
            P::True => self.lit_true.retain(|&x| x != c),
            P::False => self.lit_false.retain(|&x| x != c),
            P::Null => self.lit_null.retain(|&x| x != c),
            P::Prefix(p) => self.prefix.remove(p, c),
            P::Suffix(p) => self.suffix.remove(p, c),
            P::PrefixIc(p) => self.prefix_ic.remove(p, c),
            P::SuffixIc(p) => self.suffix_ic.remove(p, c),
            P::EqIc(p) => remove_from(&mut self.eq_ic, p.as_bytes(), c, true),
            P::Exists(true) => self.exists.retain(|&x| x != c),
            P::Exists(false) => {}
            P::Numeric(r) if r.lo == r.hi => {
                remove_from(&mut self.exact_num, &num_key(r.lo), c, true)
            }
            P::Numeric(_) => {
                self.ranges.retain(|(_, x)| *x != c);
                self.range_table = OnceLock::new();
            }
            P::Wildcard(_) => self.wildcards.retain(|(_, x)| *x != c),
            P::AnythingBut(_) | P::Cidr(_) => self.others.retain(|(_, x)| *x != c),
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        self.has_str_others = !self.others.is_empty();
    }

    /// `true` if no value matcher is stored.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Append the conditions matched by value `v` to `out` (may contain duplicates).
    #[inline]
    pub(crate) fn lookup(&self, v: &EvVal<'_>, lower_buf: &mut Vec<u8>, out: &mut Vec<CondId>) {
        match *v {
            EvVal::Str(x) => {
                if let Some(c) = self.exact_str.get(x) {
                    c.extend_into(out);
                }
                if !self.prefix.is_empty() {
                    self.prefix.lookup(x, false, out);
                }
                if !self.suffix.is_empty() {
                    self.suffix.lookup(x, true, out);
                }
                if !self.eq_ic.is_empty()
                    || !self.prefix_ic.is_empty()
                    || !self.suffix_ic.is_empty()
                {
                    lower_buf.clear();
                    if x.is_ascii() {
                        lower_buf.extend(x.iter().map(u8::to_ascii_lowercase));
                    } else {
                        lower_buf.extend_from_slice(lower_bytes(x).as_bytes());
                    }
                    let l = &lower_buf[..];
                    if let Some(c) = self.eq_ic.get(l) {
                        c.extend_into(out);
                    }
                    if !self.prefix_ic.is_empty() {
                        self.prefix_ic.lookup(l, false, out);
                    }
                    if !self.suffix_ic.is_empty() {
                        self.suffix_ic.lookup(l, true, out);
                    }
                }
                for (w, c) in &self.wildcards {
                    if w.matches(x) {
                        out.push(*c);
                    }
                }
            }
            EvVal::Num(n, t) => {
                if !n.is_nan() {
                    if let Some(c) = self.exact_num.get(&num_key(n)) {
                        c.extend_into(out);
                    }
                    if !self.ranges.is_empty() {
                        self.lookup_ranges(n, out);
                    }
                }
                if !self.exact_num_text.is_empty() {
                    if let Some(c) = self.exact_num_text.get(t) {
                        c.extend_into(out);
                    }
                }
            }
            EvVal::True => out.extend_from_slice(&self.lit_true),
            EvVal::False => out.extend_from_slice(&self.lit_false),
            EvVal::Null => out.extend_from_slice(&self.lit_null),
        }
        if !self.exists.is_empty() {
            out.extend_from_slice(&self.exists);
        }
        if self.has_str_others {
            for (vp, c) in &self.others {
                if eval(vp, v) {
                    out.push(*c);
                }
            }
        }
    }

    fn lookup_ranges(&self, n: f64, out: &mut Vec<CondId>) {
        if self.ranges.len() >= RANGE_TABLE_MIN {
            if let Some(t) = self
                .range_table
                .get_or_init(|| RangeTable::build(&self.ranges))
            {
                t.lookup(n, out);
                return;
            }
        }
        for (r, c) in &self.ranges {
            if r.contains(n) {
                out.push(*c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(lo: f64, lo_open: bool, hi: f64, hi_open: bool) -> Range {
        Range {
            lo,
            lo_open,
            hi,
            hi_open,
        }
    }

    #[test]
    fn range_table_agrees_with_linear() {
        let inf = f64::INFINITY;
        let ranges: Vec<(Range, CondId)> = vec![
            (rng(0.0, false, 10.0, false), 0),
            (rng(0.0, true, 10.0, true), 1),
            (rng(-inf, true, 5.0, false), 2),
            (rng(5.0, true, inf, true), 3),
            (rng(3.0, false, 3.5, true), 4),
            (rng(-2.0, false, 0.0, false), 5),
            (rng(10.0, false, 11.0, false), 6),
            (rng(-inf, true, -1.0, true), 7),
            (rng(7.0, true, inf, true), 8),
        ];
        let t = RangeTable::build(&ranges).unwrap();
        for i in -40..=50 {
            let x = i as f64 / 4.0;
            let mut got = Vec::new();
            t.lookup(x, &mut got);
            got.sort_unstable();
            got.dedup();
            let want: Vec<CondId> = ranges
                .iter()
                .filter(|(r, _)| r.contains(x))
                .map(|(_, c)| *c)
                .collect();
            assert_eq!(got, want, "x = {x}");
        }
    }
}
