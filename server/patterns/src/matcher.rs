//! The compiled multi-rule matcher.
//!
//! Rules are split into *branches* (one per `$or` alternative) and branches into
//! *conditions* (one per field path: "the value at this path matches one of these
//! value matchers", optionally "... or the path is absent" for `exists: false`).
//!
//! Each branch is found through one *key* only: either one condition, whose value
//! matchers are stored in the [`FieldIndex`] of its path (keyed so that looking up an
//! event value costs the same whatever the number of rules), or two or three conditions
//! together (each with exact values or prefixes), stored in a [`TupleIndex`] under the
//! hash of their values (the keys of all tuple indexes share one [`TupleTable`], so an
//! event's tuple lookups are requested from memory together, before the field lookups,
//! and read after them). A key of one condition of exact values, in a branch of several
//! conditions, is a tuple of one in that table (see [`Matcher::index`]). A hit on a key
//! makes its branch a *candidate*; a candidate is first checked against its [`Filter`]
//! (hashes of its other exact and prefix values, kept in one cache line with the
//! branch's rule), then verified by evaluating every condition against the event's
//! values at its path and checking that the chosen values are array-consistent (values
//! taken from different elements of the same array may not be combined, as in
//! event-ruler). Verification reads the branch's [`Check`], a tape with the common
//! string, `numeric` and `exists: true` conditions inline, kept in the branch slot's
//! next two cache lines (requested with the first), so that with thousands of rules a
//! candidate costs one wait for memory rather than a pointer chase through conditions,
//! value lists and strings.
//!
//! Why one key per branch: rules share values. Thousands of rules may name the same
//! `source` or event name, but few name the same bucket or user. If every condition
//! were indexed, an event carrying a common value would touch every rule naming it; with
//! the key chosen as the branch's most selective condition or tuple (the one whose values
//! the fewest other conditions name, see [`Matcher::best_key`]) the work per event
//! follows the number of rules sharing the event's *rarest* values instead. Tuples serve
//! rules none of whose values is rare alone (a service, an account and a region, each
//! named by hundreds of rules, while the combination is named by a few; an ARN prefix
//! naming an account and an operation). Selectivity is judged on the rules loaded when
//! the key is chosen, so every change re-examines the keys of a few branches in turn
//! ([`REKEY_PER_CHANGE`]): keys chosen early, against few rules, are revised as rules
//! accumulate, at a bounded cost per change rather than in occasional full passes.
//!
//! A branch with a single condition needs no verification: a hit matches its rule at
//! once. Branches made only of `exists: false` conditions have no value to be found by,
//! so they are verified on every event. Rules are deduplicated with per-thread
//! generation-stamped arrays, not sets.
//!
//! Single patterns (`EventPattern`, in `pattern.rs`) use the same structures without the
//! index (every branch verified; see [`Matcher::new_direct`]), so single-pattern matching
//! evaluates each value matcher directly and the property tests comparing the two check
//! the indexes against it. Imports run one way: `pattern.rs` builds on this module, and
//! holds the matcher's entry points that take patterns (`Matcher::add_rule`,
//! `Matcher::add_pattern`); this module works on compiled branches only.

use crate::compile::{Branch, Range, ValuePattern};
use crate::error::EventError;
use crate::fxhash::{FxHashMap, FxHasher};
use crate::index::{eval, CondId, FieldIndex};
use crate::prefetch::prefetch;
use crate::scan::{scan, EvVal, Leaf, Scratch, Trie};
use crate::tuple_table::TupleTable;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Bound on the array-consistency search per branch and event (each step tries one
/// value for one condition); beyond it the branch is reported as not matching.
const CONSISTENCY_BUDGET: usize = 100_000;

/// `cond_target` rule of a condition that does not match its rule on its own.
const NO_RULE: u32 = u32::MAX;

/// End of a per-field leaf list.
const NO_LEAF: u32 = u32::MAX;

/// Rule slots from which the matched rules' slots are requested before reading their ids.
const PREFETCH_RULES_MIN: usize = 1024;

/// Branch slots whose key is re-chosen at each rule added or removed. With 4, a pass
/// over all slots takes a quarter as many changes as there are slots, so while rules
/// are being added every key was re-chosen when the matcher had at least about three
/// quarters of its current branches.
const REKEY_PER_CHANGE: usize = 4;

struct Cond {
    field: u32,
    /// Satisfied by the field being absent (`exists: false` in the value list).
    absent_ok: bool,
    values: Vec<ValuePattern>,
}

/// How a branch is found: by one condition in its field's index, or by the values of
/// two or three conditions together in a [`TupleIndex`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Cond(CondId),
    Tuple(Tuple),
}

/// The conditions of a tuple key, ascending by field id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Tuple {
    ids: [CondId; TUPLE_MAX],
    len: u8,
}

/// Fixed-point scale of per-combination tuple costs in [`Matcher::best_key`].
const COST_SCALE: u64 = 1024;

/// Conditions in a tuple key at most.
const TUPLE_MAX: usize = 3;

impl Tuple {
    fn conds(&self) -> &[CondId] {
        &self.ids[..self.len as usize]
    }
}

/// The fields of a [`TupleIndex`], each with whether it is looked up by prefixes (unused
/// places are `(u32::MAX, false)`).
type TupleShape = [(u32, bool); TUPLE_MAX];

struct BranchSlot {
    rule: u32,
    /// Condition ids, ascending.
    conds: Vec<CondId>,
    /// `None` if every condition accepts absence.
    key: Option<Key>,
}

/// What a candidate branch needs, three cache lines per branch slot, requested together:
/// in the first its rule and its [`Filter`], which rejects most candidates without
/// reading anything else; in the next two its [`Check`] tape for verifying those that
/// pass, if it fits (else the tape is one more allocation, requested once the filter
/// passed).
#[repr(C, align(64))]
struct Hot {
    rule: u32,
    /// Length of the tape in `tape`, or [`TAPE_ON_HEAP`] if it is in `spill`.
    tape_len: u16,
    filter: Filter,
    spill: Box<[u8]>,
    tape: [u8; HOT_TAPE],
}

/// Bytes of a [`Check`] tape kept in [`Hot`]: its second and third cache lines.
const HOT_TAPE: usize = 128;
const TAPE_ON_HEAP: u16 = u16::MAX;

const _: () = assert!(
    std::mem::size_of::<Hot>() == 192,
    "Hot fills three cache lines"
);

impl Default for Hot {
    fn default() -> Self {
        Hot {
            rule: 0,
            tape_len: 0,
            filter: Filter::default(),
            spill: Box::default(),
            tape: [0; HOT_TAPE],
        }
    }
}

impl Hot {
    /// The branch's [`Check`] tape.
    #[inline]
    fn tape(&self) -> &[u8] {
        if self.tape_len == TAPE_ON_HEAP {
            &self.spill
        } else {
            &self.tape[..self.tape_len as usize]
        }
    }

    fn set_check(&mut self, check: Check) {
        let tape = check.0;
        if tape.len() <= HOT_TAPE {
            self.tape[..tape.len()].copy_from_slice(&tape);
            self.tape_len = tape.len() as u16;
            self.spill = Box::default();
        } else {
            self.tape_len = TAPE_ON_HEAP;
            self.spill = tape;
        }
    }
}

/// A necessary condition for a branch to match: for each condition other than the key
/// whose values are all exact (or all case-sensitive prefixes), the hashes of those
/// values. A candidate passes if each such field has a value whose hash (of its first
/// `len` bytes, for a prefix) is listed. Checking it reads only this tape and the event,
/// where full verification follows pointers to every condition and value.
///
/// Tape: a header word per condition (`field | kind << 32 | n << 40`), then `n` hashes
/// (exact) or `n` (length, hash) pairs (prefix); short tapes are stored inline.
enum Filter {
    Inline(u8, [u64; FILTER_INLINE]),
    Heap(Box<[u64]>),
}

impl Default for Filter {
    fn default() -> Self {
        Filter::Inline(0, [0; FILTER_INLINE])
    }
}

/// Tape words stored inline in [`Hot`] (in its first cache line).
const FILTER_INLINE: usize = 4;

const FILTER_EXACT: u64 = 0;
const FILTER_PREFIX: u64 = 1;
/// Conditions with more values than this are left to full verification.
const FILTER_VALUES_MAX: usize = 8;

/// Hash of a string prefix for [`Filter`].
#[inline]
fn prefix_hash(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(9);
    h.write(bytes);
    h.finish()
}

impl Filter {
    fn words(&self) -> &[u64] {
        match self {
            Filter::Inline(n, w) => &w[..*n as usize],
            Filter::Heap(w) => w,
        }
    }

    fn build(conds: &[&Cond]) -> Filter {
        let mut tape = Vec::new();
        for cond in conds {
            if cond.absent_ok || cond.values.len() > FILTER_VALUES_MAX {
                continue;
            }
            let exact: Option<Vec<u64>> = cond.values.iter().map(exact_hash).collect();
            if let Some(hashes) = exact {
                tape.push(u64::from(cond.field) | FILTER_EXACT << 32 | (hashes.len() as u64) << 40);
                tape.extend(hashes);
                continue;
            }
            let prefixes: Option<Vec<&str>> = cond
                .values
                .iter()
                .map(|v| match v {
                    ValuePattern::Prefix(p) => Some(p.as_str()),
                    _ => None,
                })
                .collect();
            if let Some(prefixes) = prefixes {
                tape.push(
                    u64::from(cond.field) | FILTER_PREFIX << 32 | (prefixes.len() as u64) << 40,
                );
                for p in prefixes {
                    tape.push(p.len() as u64);
                    tape.push(prefix_hash(p.as_bytes()));
                }
            }
        }
        if tape.len() <= FILTER_INLINE {
            let mut w = [0; FILTER_INLINE];
            w[..tape.len()].copy_from_slice(&tape);
            Filter::Inline(tape.len() as u8, w)
        } else {
            Filter::Heap(tape.into_boxed_slice())
        }
    }

    /// The fields the filter reads (one per tape entry).
    fn fields(&self) -> Vec<u32> {
        let tape = self.words();
        let mut out = Vec::new();
        let mut i = 0;
        while i < tape.len() {
            let hdr = tape[i];
            let n = (hdr >> 40) as usize;
            out.push(hdr as u32);
            i += 1 + if (hdr >> 32) & 0xFF == FILTER_EXACT {
                n
            } else {
                2 * n
            };
        }
        out
    }

    /// `false` if the branch cannot match the event.
    #[inline]
    fn passes(&self, v: &Verifier, input: &[u8], s: &Scratch) -> bool {
        let tape = self.words();
        let mut i = 0;
        while i < tape.len() {
            let hdr = tape[i];
            let field = hdr as u32;
            let kind = (hdr >> 32) & 0xFF;
            let n = (hdr >> 40) as usize;
            i += 1;
            let mut li = v.first_leaf(field);
            let mut ok = false;
            if kind == FILTER_EXACT {
                let hashes = &tape[i..i + n];
                i += n;
                while li != NO_LEAF && !ok {
                    ok = hashes.contains(&v.leaf_hashes[li as usize]);
                    li = v.leaf_next[li as usize];
                }
            } else {
                let pairs = &tape[i..i + 2 * n];
                i += 2 * n;
                while li != NO_LEAF && !ok {
                    if let EvVal::Str(x) = s.value(input, &s.leaves[li as usize]) {
                        ok = pairs.chunks_exact(2).any(|p| {
                            let len = p[0] as usize;
                            len <= x.len() && prefix_hash(&x[..len]) == p[1]
                        });
                    }
                    li = v.leaf_next[li as usize];
                }
            }
            if !ok {
                return false;
            }
        }
        true
    }
}

/// A branch's conditions laid out in one allocation for verifying a candidate, so that
/// verification reads one or two cache lines instead of following pointers from the
/// branch to each condition, its value list and each string (with thousands of rules,
/// each a likely cache miss). The common string conditions carry their strings inline:
/// exact (non-IP) strings and prefixes, compared byte for byte, and `anything-but` a list
/// of strings — exactly what [`eval`] does for them; any other condition is referred to
/// by id and evaluated as usual. Those come first: they are the ones a candidate that
/// passed its [`Filter`] most often fails.
///
/// Numeric ranges and `exists: true` are inline too (a candidate of such a rule would
/// otherwise read the condition, then its value list, one after the other).
///
/// Tape, per condition: field (u32), kind (u8), then for [`CHECK_STRS`] and
/// [`CHECK_NOT_STRS`] the strings' total encoded length (u16) and each string as its
/// length (u16, the top bit set for a prefix) and its bytes (a condition whose strings do
/// not fit these lengths is checked by id); for [`CHECK_NUMS`] the number of ranges
/// (u16) and each range as its bounds (two f64) and whether each is open (u8:
/// bit 0 the lower, bit 1 the upper); nothing more for [`CHECK_ANY`]; for
/// [`CHECK_COND`] the condition id (u32). Integers and floats are little-endian.
#[derive(Default)]
struct Check(Box<[u8]>);

/// Satisfied by a string value equal to one of the strings, or starting with one of the
/// prefixes.
const CHECK_STRS: u8 = 0;
/// Satisfied by any value but a string equal to one of the strings (`anything-but`).
const CHECK_NOT_STRS: u8 = 1;
/// Evaluate condition `id` (see [`Matcher::satisfy_cond`]).
const CHECK_COND: u8 = 2;
/// Satisfied by a number in one of the ranges (`numeric`, as [`Range::contains`]).
const CHECK_NUMS: u8 = 3;
/// Satisfied by any value (`exists: true`).
const CHECK_ANY: u8 = 4;

/// Bytes of one range on a [`Check`] tape.
const RANGE_BYTES: usize = 17;

const STR_EXACT: u8 = 0;
const STR_PREFIX: u8 = 1;
/// Set in a string's length on a [`Check`] tape for a prefix.
const STR_PREFIX_BIT: u16 = 1 << 15;

#[inline(always)]
fn read_u32(tape: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(tape[at..at + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
fn read_u16(tape: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(tape[at..at + 2].try_into().expect("2 bytes"))
}

/// How a condition is checked from a [`Check`] tape.
enum Inline<'a> {
    /// [`CHECK_STRS`] or [`CHECK_NOT_STRS`], with (tag, string) pairs.
    Strs(u8, Vec<(u8, &'a str)>),
    Nums(Vec<&'a Range>),
    Any,
    /// By id ([`CHECK_COND`]).
    Cond,
}

impl Check {
    fn build(conds: &[(CondId, &Cond)]) -> Check {
        use ValuePattern as P;
        // The strings a condition is checked against inline, and the kind of check.
        fn inline(cond: &Cond) -> Inline<'_> {
            if let [P::AnythingBut(crate::compile::AnythingBut::Strings(list))] = &cond.values[..] {
                return Inline::Strs(
                    CHECK_NOT_STRS,
                    list.iter().map(|s| (STR_EXACT, s.as_str())).collect(),
                );
            }
            if let [P::Exists(true)] = &cond.values[..] {
                return Inline::Any;
            }
            let ranges = cond
                .values
                .iter()
                .map(|v| match v {
                    P::Numeric(r) => Some(r),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            if let Some(ranges) = ranges {
                return Inline::Nums(ranges);
            }
            let strs = cond
                .values
                .iter()
                .map(|v| match v {
                    P::ExactStr(s) if !crate::ip::looks_like_ip(s) => Some((STR_EXACT, s.as_str())),
                    P::Prefix(p) => Some((STR_PREFIX, p.as_str())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            match strs {
                Some(strs) => Inline::Strs(CHECK_STRS, strs),
                None => Inline::Cond,
            }
        }
        // Inline strings must fit the tape's lengths (u16, a string's without its top bit).
        fn fits(checked: Inline<'_>) -> Inline<'_> {
            match checked {
                Inline::Strs(_, ref strs)
                    if strs
                        .iter()
                        .any(|(_, s)| s.len() >= usize::from(STR_PREFIX_BIT))
                        || strs.iter().map(|(_, s)| 2 + s.len()).sum::<usize>()
                            > usize::from(u16::MAX) =>
                {
                    Inline::Cond
                }
                Inline::Nums(ref r) if r.len() > usize::from(u16::MAX) => Inline::Cond,
                other => other,
            }
        }
        let mut tape = Vec::new();
        for strs_pass in [false, true] {
            for &(c, cond) in conds {
                let checked = fits(inline(cond));
                if matches!(checked, Inline::Strs(..)) != strs_pass {
                    continue;
                }
                tape.extend_from_slice(&cond.field.to_le_bytes());
                match checked {
                    Inline::Strs(kind, strs) => {
                        tape.push(kind);
                        let at = tape.len();
                        tape.extend_from_slice(&0u16.to_le_bytes());
                        for (tag, s) in strs {
                            let bit = if tag == STR_PREFIX { STR_PREFIX_BIT } else { 0 };
                            tape.extend_from_slice(&(s.len() as u16 | bit).to_le_bytes());
                            tape.extend_from_slice(s.as_bytes());
                        }
                        let len = (tape.len() - at - 2) as u16;
                        tape[at..at + 2].copy_from_slice(&len.to_le_bytes());
                    }
                    Inline::Nums(ranges) => {
                        tape.push(CHECK_NUMS);
                        tape.extend_from_slice(&(ranges.len() as u16).to_le_bytes());
                        for r in ranges {
                            tape.extend_from_slice(&r.lo.to_le_bytes());
                            tape.extend_from_slice(&r.hi.to_le_bytes());
                            tape.push(u8::from(r.lo_open) | u8::from(r.hi_open) << 1);
                        }
                    }
                    Inline::Any => tape.push(CHECK_ANY),
                    Inline::Cond => {
                        tape.push(CHECK_COND);
                        tape.extend_from_slice(&c.to_le_bytes());
                    }
                }
            }
        }
        Check(tape.into_boxed_slice())
    }
}

/// Is `n` in one of the ranges encoded in `ranges` (see [`Check`])?
#[inline]
fn ranges_contain(ranges: &[u8], n: f64) -> bool {
    ranges.chunks_exact(RANGE_BYTES).any(|r| {
        let lo = f64::from_le_bytes(r[0..8].try_into().expect("8 bytes"));
        let hi = f64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        Range {
            lo,
            lo_open: r[16] & 1 != 0,
            hi,
            hi_open: r[16] & 2 != 0,
        }
        .contains(n)
    })
}

/// Does `x` equal one of the exact strings, or start with one of the prefixes, encoded in
/// `strs` (see [`Check`])?
#[inline]
fn strs_match(strs: &[u8], x: &[u8]) -> bool {
    let mut i = 0;
    while i < strs.len() {
        let word = read_u16(strs, i);
        let len = usize::from(word & !STR_PREFIX_BIT);
        i += 2;
        let s = &strs[i..i + len];
        i += len;
        let hit = if word & STR_PREFIX_BIT == 0 {
            x == s
        } else {
            x.starts_with(s)
        };
        if hit {
            return true;
        }
    }
    false
}

/// Branches keyed by the values of two or three fields together, for branches none of
/// whose conditions is selective alone (a service, an account and a region, each shared
/// by hundreds of rules, while the triple is shared by few; or an operation and an ARN
/// prefix naming an account, where hundreds of rules share each prefix). Each side is
/// exact values or case-sensitive prefixes ([`Side`]). Keyed by the tuple key
/// ([`TUPLE_SEED`]) of the values' [`side_hash`]es: a collision only adds a candidate, which verification
/// rejects. The keys of every tuple index live in the matcher's one [`TupleTable`].
struct TupleIndex {
    sides: Vec<TupleSide>,
}

/// One field of a [`TupleIndex`].
struct TupleSide {
    field: u32,
    /// `None` for exact values, looked up by the event value's [`leaf_hash`]. For
    /// prefixes, their distinct lengths (ascending) with how many keyed prefixes have
    /// each: an event value is looked up by the [`prefix_hash`] of its first bytes at
    /// each of these lengths.
    prefix_lens: Option<Vec<(u32, u32)>>,
}

impl TupleSide {
    /// Count (or uncount) a keyed prefix of length `len`.
    fn count_len(&mut self, len: usize, add: bool) {
        let lens = self.prefix_lens.as_mut().expect("a prefix side");
        let len = len as u32;
        let at = lens.partition_point(|&(l, _)| l < len);
        match lens.get_mut(at) {
            Some((l, n)) if *l == len => {
                if add {
                    *n += 1;
                } else {
                    *n -= 1;
                    if *n == 0 {
                        lens.remove(at);
                    }
                }
            }
            _ => {
                debug_assert!(add, "uncounting a prefix length never counted");
                lens.insert(at, (len, 1));
            }
        }
    }

    /// Append to `out` the hashes the event's values at this side's field are looked up
    /// by; `false` (and stop) once `out` would exceed `max`.
    #[inline]
    fn event_hashes(
        &self,
        v: &Verifier,
        input: &[u8],
        s: &Scratch,
        out: &mut Vec<u64>,
        max: usize,
    ) -> bool {
        let mut li = v.first_leaf(self.field);
        while li != NO_LEAF {
            match &self.prefix_lens {
                None => out.push(v.leaf_hashes[li as usize]),
                Some(lens) => {
                    if let EvVal::Str(x) = s.value(input, &s.leaves[li as usize]) {
                        for &(len, _) in lens {
                            let len = len as usize;
                            if len > x.len() {
                                break;
                            }
                            out.push(prefix_hash(&x[..len]));
                        }
                    }
                }
            }
            if out.len() > max {
                return false;
            }
            li = v.leaf_next[li as usize];
        }
        true
    }
}

/// How a condition can be one side of a tuple key: by its exact values, or by its
/// (case-sensitive) prefixes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    Exact,
    Prefix,
}

/// The [`Side`] a condition can be in a tuple key: it needs a value, has at most
/// [`TUPLE_VALUES_MAX`] values, and they are all exact or all prefixes.
fn tuple_side(cond: &Cond) -> Option<Side> {
    if cond.absent_ok || cond.values.len() > TUPLE_VALUES_MAX {
        return None;
    }
    if cond.values.iter().all(|v| exact_hash(v).is_some()) {
        Some(Side::Exact)
    } else if cond
        .values
        .iter()
        .all(|v| matches!(v, ValuePattern::Prefix(_)))
    {
        Some(Side::Prefix)
    } else {
        None
    }
}

/// Hash of one value of a tuple side: [`exact_hash`] of an exact value, [`prefix_hash`] of
/// a prefix (the hash an event value is looked up by, see [`TupleSide::event_hashes`]).
fn side_hash(vp: &ValuePattern) -> Option<u64> {
    match vp {
        ValuePattern::Prefix(p) => Some(prefix_hash(p.as_bytes())),
        _ => exact_hash(vp),
    }
}

/// Distinct prefix lengths a prefix side of a tuple index may have: an event value is
/// hashed once per length.
const TUPLE_PREFIX_LENS_MAX: usize = 8;

/// At most this many value combinations of a tuple's fields are looked up per event; an
/// event with more (arrays at several fields) verifies every branch of the tuple instead.
const TUPLE_LOOKUPS_MAX: usize = 256;

/// Conditions considered for tuple keys per branch (the first ones, by id), and values
/// per condition: bounds the tuples counted per branch (6 pairs and 4 triples).
const TUPLE_CONDS_MAX: usize = 4;
const TUPLE_VALUES_MAX: usize = 4;

struct RuleSlot<Id> {
    id: Id,
    branches: Vec<u32>,
}

/// A set of event patterns compiled together, each under a caller-chosen id.
///
/// `Matcher` is `Send + Sync`: matching takes `&self` and can run on many threads at once;
/// adding and removing rules takes `&mut self`.
pub struct Matcher<Id: Clone + Eq + Hash> {
    trie: Trie,
    field_ids: HashMap<String, u32>,
    field_paths: Vec<String>,
    fields: Vec<FieldIndex>,
    conds: Vec<Option<Cond>>,
    /// Per condition, what an index hit on it leads to: (the rule it belongs to if it is
    /// the only condition of its branch, so that a hit matches the rule outright, else
    /// [`NO_RULE`]; its branch). One entry, so a hit reads one cache line.
    cond_target: Vec<(u32, u32)>,
    free_conds: Vec<u32>,
    branches: Vec<Option<BranchSlot>>,
    free_branches: Vec<u32>,
    /// Per branch slot: what a candidate needs first (see [`Hot`]).
    hot: Vec<Hot>,
    /// Per field: filters and tuple indexes that read its values' hashes (an event's
    /// other values are not hashed).
    hashed: Vec<u32>,
    /// Branches with no condition that needs a value, ascending.
    always: Vec<u32>,
    rules: Vec<Option<RuleSlot<Id>>>,
    free_rules: Vec<u32>,
    by_id: HashMap<Id, u32>,
    /// How many live conditions name each value matcher, by [`popularity_key`] (a hash:
    /// a collision only makes a key choice worse, never a match wrong).
    popularity: FxHashMap<u64, u32>,
    tuples: Vec<TupleIndex>,
    /// The branches of every tuple index, by tuple key.
    tuple_table: TupleTable,
    /// Tuple index of each [`TupleShape`].
    tuple_ids: FxHashMap<TupleShape, u32>,
    /// Branches keyed by a tuple.
    tuple_keyed: usize,
    /// Next branch slot whose key [`Matcher::rekey_some`] re-examines.
    rekey_cursor: usize,
    strict: bool,
    /// Verify every branch on every event instead of looking keys up (single patterns).
    direct: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<Id: Clone + Eq + Hash> Default for Matcher<Id> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Id: Clone + Eq + Hash> std::fmt::Debug for Matcher<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("rules", &self.len())
            .field("fields", &self.field_paths.len())
            .finish()
    }
}

/// Hash identifying a value matcher on a field for the popularity counts, and the weight
/// of one condition naming it: roughly how many events' worth of candidates a key on it
/// costs compared with an exact value. Exact values and affixes hit only events carrying
/// them; ranges, wildcards and CIDR blocks hit a share of all values (counted together per
/// field); `anything-but` and `exists: true` hit nearly every event that has the field.
/// `None` for `exists: false`, which no index holds.
fn popularity_key(field: u32, vp: &ValuePattern) -> Option<(u64, u64)> {
    use ValuePattern as P;
    let mut h = FxHasher::default();
    h.write_u32(field);
    let (tag, bytes, weight): (u8, &[u8], u64) = match vp {
        P::ExactStr(s) => (1, s.as_bytes(), 1),
        P::ExactNum { num: Some(n), .. } => {
            h.write_u64(crate::index::num_key(*n));
            (2, &[], 1)
        }
        P::Numeric(r) if r.lo == r.hi => {
            h.write_u64(crate::index::num_key(r.lo));
            (2, &[], 1)
        }
        P::ExactNum { text, num: None } => (3, text.as_bytes(), 1),
        P::True => (4, &[], 1),
        P::False => (5, &[], 1),
        P::Null => (6, &[], 1),
        P::EqIc(s) => (7, s.as_bytes(), 1),
        P::Prefix(s) => (8, s.as_bytes(), 2),
        P::Suffix(s) => (9, s.as_bytes(), 2),
        P::PrefixIc(s) => (10, s.as_bytes(), 2),
        P::SuffixIc(s) => (11, s.as_bytes(), 2),
        P::Numeric(_) => (12, &[], 4),
        P::Wildcard(_) => (13, &[], 4),
        P::Cidr(_) => (14, &[], 4),
        P::AnythingBut(_) => (15, &[], 64),
        P::Exists(true) => (16, &[], 64),
        P::Exists(false) => return None,
    };
    h.write_u8(tag);
    h.write(bytes);
    Some((h.finish(), weight))
}

/// Can the condition key its branch in the tuple table alone: does it name values (no
/// `exists: false`), each an exact one with an [`exact_hash`]?
fn exact_only(cond: &Cond) -> bool {
    !cond.absent_ok
        && !cond.values.is_empty()
        && cond.values.iter().all(|v| exact_hash(v).is_some())
}

/// Hash of a value matcher that matches exactly one event value (by bytes, number or
/// literal), equal to [`leaf_hash`] of that value; `None` for any other matcher
/// (including IP-shaped strings, which also match other spellings of the address).
fn exact_hash(vp: &ValuePattern) -> Option<u64> {
    use ValuePattern as P;
    let mut h = FxHasher::default();
    match vp {
        P::ExactStr(s) if !crate::ip::looks_like_ip(s) => {
            h.write_u8(1);
            h.write(s.as_bytes());
        }
        P::ExactNum { num: Some(n), .. } => {
            h.write_u8(2);
            h.write_u64(crate::index::num_key(*n));
        }
        P::Numeric(r) if r.lo == r.hi => {
            h.write_u8(2);
            h.write_u64(crate::index::num_key(r.lo));
        }
        P::True => h.write_u8(4),
        P::False => h.write_u8(5),
        P::Null => h.write_u8(6),
        _ => return None,
    }
    Some(h.finish())
}

/// Hash of an event value, as [`exact_hash`] hashes the matcher equal to it; `None` for
/// a number that cannot be compared (no exact matcher equals it numerically).
fn leaf_hash(v: &EvVal<'_>) -> Option<u64> {
    let mut h = FxHasher::default();
    match *v {
        EvVal::Str(x) => {
            h.write_u8(1);
            h.write(x);
        }
        EvVal::Num(n, _) if !n.is_nan() => {
            h.write_u8(2);
            h.write_u64(crate::index::num_key(n));
        }
        EvVal::Num(..) => return None,
        EvVal::True => h.write_u8(4),
        EvVal::False => h.write_u8(5),
        EvVal::Null => h.write_u8(6),
    }
    Some(h.finish())
}

/// Start of a tuple key: the key of two or three values together in a [`TupleIndex`] is
/// this folded with [`tuple_step`] over the values' hashes, in field order.
const TUPLE_SEED: u64 = 0x243F_6A88_85A3_08D3;

/// One step of a tuple key (see [`TUPLE_SEED`]): the key so far with the next value's
/// hash.
#[inline]
fn tuple_step(acc: u64, value: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(acc);
    h.write_u64(value);
    h.finish()
}

/// Popularity-count key of a value tuple on its fields.
fn tuple_popularity_key(conds: &[&Cond], tuple: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(0xFE);
    for c in conds {
        h.write_u32(c.field);
    }
    h.write_u64(tuple);
    h.finish()
}

impl<Id: Clone + Eq + Hash> Matcher<Id> {
    /// An empty matcher.
    pub fn new() -> Self {
        Matcher {
            trie: Trie::default(),
            field_ids: HashMap::new(),
            field_paths: Vec::new(),
            fields: Vec::new(),
            conds: Vec::new(),
            cond_target: Vec::new(),
            free_conds: Vec::new(),
            branches: Vec::new(),
            free_branches: Vec::new(),
            hot: Vec::new(),
            hashed: Vec::new(),
            always: Vec::new(),
            rules: Vec::new(),
            free_rules: Vec::new(),
            by_id: HashMap::new(),
            popularity: FxHashMap::default(),
            tuples: Vec::new(),
            tuple_table: TupleTable::default(),
            tuple_ids: FxHashMap::default(),
            tuple_keyed: 0,
            rekey_cursor: 0,
            strict: false,
            direct: false,
        }
    }

    /// Strict mode: read and check the whole event, so malformed JSON anywhere in it is
    /// an error. By default (not strict) scanning stops as soon as every field some rule
    /// names has been seen, and skipped values are checked only lightly; this is much
    /// faster and gives the same matches for every well-formed event without duplicate keys.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// An empty matcher in direct mode: every branch is verified on every event,
    /// evaluating each value matcher (no keys, indexes or filters). For a single pattern
    /// this costs about the same as the index, and it keeps single-pattern matching an
    /// independent reference for the indexes.
    pub(crate) fn new_direct() -> Self {
        Matcher {
            direct: true,
            ..Self::new()
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// `true` if there are no rules.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Does a rule with this id exist?
    pub fn contains(&self, id: &Id) -> bool {
        self.by_id.contains_key(id)
    }

    /// Add a rule made of these compiled branches under `id`, replacing the rule `id`
    /// had (`Matcher::add_rule` and `Matcher::add_pattern`, in `pattern.rs`, call it).
    pub(crate) fn add_branches(&mut self, id: Id, branches: &[Branch]) {
        self.remove_rule(&id);
        let rule = alloc(
            &mut self.rules,
            &mut self.free_rules,
            RuleSlot {
                id: id.clone(),
                branches: Vec::new(),
            },
        );
        let mut branch_ids = Vec::with_capacity(branches.len());
        for branch in branches {
            let b = alloc(
                &mut self.branches,
                &mut self.free_branches,
                BranchSlot {
                    rule,
                    conds: Vec::new(),
                    key: None,
                },
            );
            let mut conds = Vec::with_capacity(branch.len());
            for (path, values) in branch {
                let field = self.intern_field(path);
                let absent_ok = values.contains(&ValuePattern::Exists(false));
                if !self.direct {
                    self.count(field, values, true);
                }
                let c = alloc(
                    &mut self.conds,
                    &mut self.free_conds,
                    Cond {
                        field,
                        absent_ok,
                        values: values.clone(),
                    },
                );
                conds.push(c);
            }
            conds.sort_unstable();
            if self.cond_target.len() < self.conds.len() {
                self.cond_target.resize(self.conds.len(), (NO_RULE, 0));
            }
            for &c in &conds {
                self.cond_target[c as usize] = (NO_RULE, b);
            }
            // Direct mode verifies every branch: no key, no index, no filter.
            let key = if self.direct {
                None
            } else {
                self.count_tuples(&conds, true);
                self.best_key(&conds)
            };
            match key {
                Some(k) => {
                    self.index(b, k, conds.len() == 1, true);
                    if let (Key::Cond(c), 1) = (k, conds.len()) {
                        self.cond_target[c as usize].0 = rule;
                    }
                }
                None if self.direct => {}
                None => {
                    let at = self.always.partition_point(|&x| x < b);
                    self.always.insert(at, b);
                }
            }
            let filter = if self.direct {
                Filter::default()
            } else {
                self.filter(&conds, key)
            };
            if self.hot.len() < self.branches.len() {
                self.hot.resize_with(self.branches.len(), Hot::default);
            }
            self.hot[b as usize].rule = rule;
            self.set_filter(b, filter);
            // Direct mode verifies from the conditions themselves.
            if !self.direct {
                let with_ids: Vec<(CondId, &Cond)> =
                    conds.iter().map(|&c| (c, self.cond(c))).collect();
                let check = Check::build(&with_ids);
                self.hot[b as usize].set_check(check);
            }
            let slot = self.branches[b as usize].as_mut().expect("just allocated");
            slot.conds = conds;
            slot.key = key;
            branch_ids.push(b);
        }
        self.rules[rule as usize]
            .as_mut()
            .expect("just allocated")
            .branches = branch_ids;
        self.by_id.insert(id, rule);
        if !self.direct {
            self.rekey_some();
        }
    }

    /// Remove the rule `id`; `false` if there was none.
    pub fn remove_rule(&mut self, id: &Id) -> bool {
        let Some(rule) = self.by_id.remove(id) else {
            return false;
        };
        let slot = self.rules[rule as usize].take().expect("live rule");
        self.free_rules.push(rule);
        for b in slot.branches {
            let br = self.branches[b as usize].take().expect("live branch");
            self.free_branches.push(b);
            self.set_filter(b, Filter::default());
            if !self.direct {
                self.hot[b as usize].set_check(Check::default());
                self.count_tuples(&br.conds, false);
            }
            match br.key {
                Some(k) => self.index(b, k, br.conds.len() == 1, false),
                None => {
                    if let Ok(at) = self.always.binary_search(&b) {
                        self.always.remove(at);
                    }
                }
            }
            for c in br.conds {
                let cond = self.conds[c as usize].take().expect("live condition");
                self.cond_target[c as usize].0 = NO_RULE;
                self.free_conds.push(c);
                if !self.direct {
                    self.count(cond.field, &cond.values, false);
                }
                self.trie.remove(&self.field_paths[cond.field as usize]);
            }
        }
        if !self.direct {
            self.rekey_some();
        }
        true
    }

    /// Add (or remove) branch `b` (`single`: with one condition) to (from) the index of
    /// its key.
    fn index(&mut self, b: u32, key: Key, single: bool, add: bool) {
        match key {
            // A hit on the key of a one-condition branch matches its rule outright (see
            // `cond_target`), which only the field indexes tell.
            Key::Cond(c) if single || !exact_only(self.cond(c)) => {
                let cond = self.conds[c as usize].as_ref().expect("live condition");
                let fi = &mut self.fields[cond.field as usize];
                for v in &cond.values {
                    if add {
                        fi.add(v, c);
                    } else {
                        fi.remove(v, c);
                    }
                }
            }
            // A condition of exact values keys a branch of several conditions in the tuple
            // table, as a tuple of one: looked up with the event's other keys and requested
            // with them, the hit leading to the branch itself.
            Key::Cond(c) => self.index_tuple(
                b,
                Tuple {
                    ids: [c, 0, 0],
                    len: 1,
                },
                add,
            ),
            Key::Tuple(t) => self.index_tuple(b, t, add),
        }
    }

    /// Add (or remove) branch `b` to (from) the [`TupleIndex`] of tuple `t`'s fields.
    fn index_tuple(&mut self, b: u32, t: Tuple, add: bool) {
        let conds: Vec<&Cond> = t.conds().iter().map(|&c| self.cond(c)).collect();
        let shape = tuple_shape(&conds);
        let hashes = tuple_hashes(&conds);
        let lens: Vec<Vec<usize>> = conds
            .iter()
            .map(|c| {
                c.values
                    .iter()
                    .filter_map(|v| match v {
                        ValuePattern::Prefix(p) => Some(p.len()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let p = match self.tuple_ids.get(&shape) {
            Some(&p) => p,
            None => {
                let sides = shape[..conds.len()]
                    .iter()
                    .map(|&(field, prefix)| TupleSide {
                        field,
                        prefix_lens: prefix.then(Vec::new),
                    })
                    .collect();
                self.tuples.push(TupleIndex { sides });
                let p = (self.tuples.len() - 1) as u32;
                self.tuple_ids.insert(shape, p);
                p
            }
        };
        let delta = if add { 1 } else { u32::MAX };
        if add {
            self.tuple_keyed += 1;
        } else {
            self.tuple_keyed -= 1;
        }
        // Exact sides read the event values' hashes; prefix sides hash prefixes.
        for &(field, prefix) in &shape[..t.len as usize] {
            if !prefix {
                self.hashed[field as usize] = self.hashed[field as usize].wrapping_add(delta);
            }
        }
        let index = &mut self.tuples[p as usize];
        for (side, lens) in index.sides.iter_mut().zip(lens) {
            for len in lens {
                side.count_len(len, add);
            }
        }
        for h in hashes {
            if add {
                self.tuple_table.insert(p, h, b);
            } else {
                self.tuple_table.remove(p, h, b);
            }
        }
    }

    /// Replace branch `b`'s filter, keeping the per-field hash use counts.
    fn set_filter(&mut self, b: u32, filter: Filter) {
        let old = std::mem::replace(&mut self.hot[b as usize].filter, filter);
        for f in old.fields() {
            self.hashed[f as usize] -= 1;
        }
        for f in self.hot[b as usize].filter.fields() {
            self.hashed[f as usize] += 1;
        }
    }

    /// The [`Filter`] of a branch with these conditions and key.
    fn filter(&self, conds: &[CondId], key: Option<Key>) -> Filter {
        let in_key = |c: CondId| match key {
            Some(Key::Cond(k)) => k == c,
            Some(Key::Tuple(t)) => t.conds().contains(&c),
            None => false,
        };
        let rest: Vec<&Cond> = conds
            .iter()
            .filter(|&&c| !in_key(c))
            .map(|&c| self.cond(c))
            .collect();
        Filter::build(&rest)
    }

    #[inline]
    fn cond(&self, c: CondId) -> &Cond {
        self.conds[c as usize].as_ref().expect("live condition")
    }

    /// The conditions of a branch that may take part in a tuple key: the first
    /// [`TUPLE_CONDS_MAX`] that have a [`tuple_side`] (a few at most).
    fn tuple_candidates(&self, conds: &[CondId]) -> ([CondId; TUPLE_CONDS_MAX], usize) {
        let mut out = [0; TUPLE_CONDS_MAX];
        let mut n = 0;
        for &c in conds {
            if n == TUPLE_CONDS_MAX {
                break;
            }
            if tuple_side(self.cond(c)).is_some() {
                out[n] = c;
                n += 1;
            }
        }
        (out, n)
    }

    /// Every pair and triple of tuple-key candidates, each ascending by field.
    fn candidate_tuples(&self, conds: &[CondId]) -> Vec<Tuple> {
        let (cands, n) = self.tuple_candidates(conds);
        let mut cands = cands[..n].to_vec();
        cands.sort_unstable_by_key(|&c| self.cond(c).field);
        let mut out = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                out.push(Tuple {
                    ids: [cands[i], cands[j], 0],
                    len: 2,
                });
                for k in j + 1..n {
                    out.push(Tuple {
                        ids: [cands[i], cands[j], cands[k]],
                        len: 3,
                    });
                }
            }
        }
        out
    }

    /// Can the tuple key a branch without its index's prefix sides having more than
    /// [`TUPLE_PREFIX_LENS_MAX`] distinct lengths?
    fn prefix_lens_fit(&self, t: &Tuple) -> bool {
        let conds: Vec<&Cond> = t.conds().iter().map(|&c| self.cond(c)).collect();
        let index = self
            .tuple_ids
            .get(&tuple_shape(&conds))
            .map(|&p| &self.tuples[p as usize]);
        conds.iter().enumerate().all(|(i, cond)| {
            if tuple_side(cond) != Some(Side::Prefix) {
                return true;
            }
            let mut lens: Vec<u32> = index
                .and_then(|x| x.sides[i].prefix_lens.as_ref())
                .map(|l| l.iter().map(|&(len, _)| len).collect())
                .unwrap_or_default();
            for v in &cond.values {
                if let ValuePattern::Prefix(p) = v {
                    lens.push(p.len() as u32);
                }
            }
            lens.sort_unstable();
            lens.dedup();
            lens.len() <= TUPLE_PREFIX_LENS_MAX
        })
    }

    /// Update the popularity counts of a branch's candidate value tuples.
    fn count_tuples(&mut self, conds: &[CondId], add: bool) {
        for t in self.candidate_tuples(conds) {
            let conds: Vec<&Cond> = t.conds().iter().map(|&c| self.cond(c)).collect();
            let keys: Vec<u64> = tuple_hashes(&conds)
                .into_iter()
                .map(|h| tuple_popularity_key(&conds, h))
                .collect();
            for k in keys {
                if add {
                    *self.popularity.entry(k).or_default() += 1;
                } else if let Some(n) = self.popularity.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        self.popularity.remove(&k);
                    }
                }
            }
        }
    }

    /// Update the popularity counts for a condition's values.
    fn count(&mut self, field: u32, values: &[ValuePattern], add: bool) {
        for v in values {
            let Some((h, _)) = popularity_key(field, v) else {
                continue;
            };
            if add {
                *self.popularity.entry(h).or_default() += 1;
            } else if let Some(n) = self.popularity.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    self.popularity.remove(&h);
                }
            }
        }
    }

    /// Expected candidates a key on this condition brings per event, relative to other
    /// choices: for each value matcher, its weight times how many conditions name it.
    fn key_cost(&self, cond: &Cond) -> u64 {
        cond.values
            .iter()
            .filter_map(|v| popularity_key(cond.field, v))
            .map(|(h, w)| w * u64::from(self.popularity.get(&h).copied().unwrap_or(1)))
            .sum()
    }

    /// The key to index a branch by: the cheapest condition that needs a value to be
    /// present, or tuple of conditions with exact values or prefixes (ties go to single
    /// conditions, then to larger tuples, which are the more selective, then as below).
    fn best_key(&self, conds: &[CondId]) -> Option<Key> {
        let single = conds
            .iter()
            .filter_map(|&c| {
                let cond = self.cond(c);
                (!cond.absent_ok).then(|| (self.key_cost(cond), c))
            })
            .min()?;
        let tuple = self
            .candidate_tuples(conds)
            .into_iter()
            .filter(|t| self.prefix_lens_fit(t))
            .map(|t| {
                let conds: Vec<&Cond> = t.conds().iter().map(|&c| self.cond(c)).collect();
                // Unlike a prefix alone, which hits every event value starting with it,
                // a prefix with an exact value is about as selective as two exact values.
                let hashes = tuple_hashes(&conds);
                let named: u64 = hashes
                    .iter()
                    .map(|&h| {
                        let k = tuple_popularity_key(&conds, h);
                        u64::from(self.popularity.get(&k).copied().unwrap_or(1))
                    })
                    .sum();
                // Per combination of values: a combination is rarer than each of its
                // values, so a tuple with several (two operations for one user) is not
                // costlier than its rarest member alone, which the sum would say.
                let cost = named * COST_SCALE / hashes.len().max(1) as u64;
                // Ties (tuples named by one rule each, common with thousands of rules) go
                // to the tuple whose conditions are the more selective alone.
                let alone = conds
                    .iter()
                    .fold(1u64, |p, c| p.saturating_mul(self.key_cost(c)));
                (cost, std::cmp::Reverse(t.len), alone, t.ids)
            })
            .min();
        Some(match tuple {
            Some((cost, len, _, ids)) if cost < single.0 * COST_SCALE => {
                Key::Tuple(Tuple { ids, len: len.0 })
            }
            _ => Key::Cond(single.1),
        })
    }

    /// Re-choose the keys of the next [`REKEY_PER_CHANGE`] branch slots.
    fn rekey_some(&mut self) {
        for _ in 0..REKEY_PER_CHANGE.min(self.branches.len()) {
            self.rekey_cursor = (self.rekey_cursor + 1) % self.branches.len();
            let b = self.rekey_cursor;
            let Some(br) = &self.branches[b] else {
                continue;
            };
            let Some(old) = br.key else {
                continue;
            };
            let new = self
                .best_key(&br.conds)
                .expect("a keyed branch keeps a key");
            if new != old {
                let single = br.conds.len() == 1;
                self.index(b as u32, old, single, false);
                self.index(b as u32, new, single, true);
                let br = self.branches[b].as_ref().expect("live branch");
                let filter = self.filter(&br.conds, Some(new));
                self.set_filter(b as u32, filter);
                self.branches[b].as_mut().expect("live branch").key = Some(new);
            }
        }
    }

    fn intern_field(&mut self, path: &str) -> u32 {
        let id = match self.field_ids.get(path) {
            Some(&id) => id,
            None => {
                let id = self.fields.len() as u32;
                self.fields.push(FieldIndex::default());
                self.hashed.push(0);
                self.field_paths.push(path.to_string());
                self.field_ids.insert(path.to_string(), id);
                id
            }
        };
        self.trie.add(path, id);
        id
    }

    /// Ids of all rules the event matches (each once, in no particular order).
    ///
    /// The event is scanned once; only values at paths some rule names are decoded.
    /// See [`Matcher::set_strict`] for how much of a malformed event is detected.
    pub fn matches_for_event(&self, event_json: &[u8]) -> Result<Vec<Id>, EventError> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(event_json, &mut scratch),
            Err(_) => self.run(event_json, &mut Scratch::default()),
        })
    }

    /// `true` if the event matches at least one rule.
    pub fn has_matches(&self, event_json: &[u8]) -> Result<bool, EventError> {
        self.matches_for_event(event_json).map(|v| !v.is_empty())
    }

    fn run(&self, input: &[u8], s: &mut Scratch) -> Result<Vec<Id>, EventError> {
        scan(input, &self.trie, s, self.strict)?;
        let mut tmp = std::mem::take(&mut s.tmp);
        let mut lower = std::mem::take(&mut s.lower);
        let mut matched = std::mem::take(&mut s.matched);
        let mut stamps = std::mem::take(&mut s.stamps);
        let mut branch_stamps = std::mem::take(&mut s.branch_stamps);
        let mut cands = std::mem::take(&mut s.candidates);
        let mut v = Verifier {
            satisfied: std::mem::take(&mut s.satisfied),
            groups: std::mem::take(&mut s.groups),
            leaf_next: std::mem::take(&mut s.leaf_next),
            leaf_hashes: std::mem::take(&mut s.leaf_hashes),
            field_first: std::mem::take(&mut s.field_first),
            field_stamps: std::mem::take(&mut s.field_stamps),
            generation: 0,
            n_in_arrays: 0,
            tuple_keys: std::mem::take(&mut s.tuple_keys),
            tuple_accs: std::mem::take(&mut s.tuple_accs),
            tuple_next: std::mem::take(&mut s.tuple_next),
        };
        matched.clear();
        // Rules matched by this event (and branches verified for it) are marked with a
        // fresh generation number (shared by every matcher the thread uses; a stale mark
        // is never equal to the current generation), so no set or sort is needed.
        s.generation = s.generation.wrapping_add(1);
        if s.generation == 0 {
            stamps.fill(0);
            branch_stamps.fill(0);
            v.field_stamps.fill(0);
            s.generation = 1;
        }
        let generation = s.generation;
        v.generation = generation;
        if stamps.len() < self.rules.len() {
            stamps.resize(self.rules.len(), 0);
        }
        if branch_stamps.len() < self.branches.len() {
            branch_stamps.resize(self.branches.len(), 0);
        }
        if self.direct {
            v.link_leaves(s, input, &self.hashed);
            for (b, br) in self.branches.iter().enumerate() {
                if let Some(br) = br {
                    if stamps[br.rule as usize] != generation
                        && self.verify(b as u32, &mut v, input, s)
                    {
                        mark(&mut stamps, generation, br.rule, &mut matched);
                    }
                }
            }
        } else {
            // Candidates are gathered first and verified afterwards: with thousands of
            // rules their branch slots and filters are rarely in cache, and requesting them
            // all before reading any overlaps those memory latencies instead of paying
            // them one after another.
            cands.clear();
            // Tuple keys first: their table slots are requested now and read after the
            // field lookups, so those memory latencies overlap.
            let mut tuple_keys = std::mem::take(&mut s.tuple_lookups);
            tuple_keys.clear();
            let linked = self.tuple_keyed > 0 || !self.always.is_empty();
            if linked {
                v.link_leaves(s, input, &self.hashed);
            }
            if self.tuple_keyed > 0 {
                for (p, index) in self.tuples.iter().enumerate() {
                    self.tuple_lookups(
                        p as u32,
                        index,
                        &mut v,
                        input,
                        s,
                        &mut tuple_keys,
                        &mut cands,
                    );
                }
                // Most keys are in no index: the table's presence filter rules them out
                // before any slot is requested.
                tuple_keys.retain(|&(p, k)| self.tuple_table.may_hold(p, k));
                for &(_, k) in &tuple_keys {
                    self.tuple_table.prefetch(k);
                }
            }
            // The field lookups' hits, whose targets are requested now and read after the
            // tuple slots.
            tmp.clear();
            for leaf in &s.leaves {
                let index = &self.fields[leaf.field as usize];
                if index.is_empty() {
                    continue;
                }
                let val = s.value(input, leaf);
                index.lookup(&val, &mut lower, &mut tmp);
            }
            if !tuple_keys.is_empty() {
                for &c in &tmp {
                    prefetch(&self.cond_target[c as usize]);
                }
            }
            for &(p, k) in &tuple_keys {
                self.tuple_table.get(p, k, &mut cands);
            }
            s.tuple_lookups = tuple_keys;
            for &c in &tmp {
                let (r, b) = self.cond_target[c as usize];
                if r != NO_RULE {
                    // A one-condition branch: any hit matches its rule.
                    mark(&mut stamps, generation, r, &mut matched);
                    continue;
                }
                cands.push(b);
            }
            // Rule sets made of one-condition branches are done here.
            if !linked && !cands.is_empty() {
                v.link_leaves(s, input, &self.hashed);
            }
            cands.retain(|&b| {
                let bs = &mut branch_stamps[b as usize];
                let fresh = *bs != generation;
                *bs = generation;
                fresh
            });
            for &b in &cands {
                let hot: *const Hot = &self.hot[b as usize];
                prefetch(hot);
                prefetch(hot.cast::<u8>().wrapping_add(64));
                prefetch(hot.cast::<u8>().wrapping_add(128));
            }
            for &b in &cands {
                if let Filter::Heap(w) = &self.hot[b as usize].filter {
                    prefetch(w.as_ptr());
                }
            }
            // Survivors of the filters are verified in a second pass, after requesting
            // their branch slots.
            cands.retain(|&b| {
                let hot = &self.hot[b as usize];
                stamps[hot.rule as usize] != generation && hot.filter.passes(&v, input, s)
            });
            for &b in &cands {
                let hot = &self.hot[b as usize];
                if hot.tape_len == TAPE_ON_HEAP {
                    prefetch(hot.spill.as_ptr());
                    if hot.spill.len() > 64 {
                        prefetch(hot.spill[64..].as_ptr());
                    }
                }
            }
            for &b in &cands {
                let r = self.hot[b as usize].rule;
                if stamps[r as usize] != generation && self.verify_compact(b, &mut v, input, s) {
                    mark(&mut stamps, generation, r, &mut matched);
                }
            }
            for &b in &self.always {
                let r = self.branch_rule(b);
                if stamps[r as usize] != generation && self.verify(b, &mut v, input, s) {
                    mark(&mut stamps, generation, r, &mut matched);
                }
            }
        }
        s.tmp = tmp;
        s.lower = lower;
        s.stamps = stamps;
        s.branch_stamps = branch_stamps;
        s.candidates = cands;
        s.satisfied = v.satisfied;
        s.groups = v.groups;
        s.leaf_next = v.leaf_next;
        s.leaf_hashes = v.leaf_hashes;
        s.field_first = v.field_first;
        s.field_stamps = v.field_stamps;
        s.tuple_keys = v.tuple_keys;
        s.tuple_accs = v.tuple_accs;
        s.tuple_next = v.tuple_next;
        if matched.len() > 1 {
            matched.sort_unstable();
        }
        // With thousands of rules their slots are rarely in cache: request them together.
        if self.rules.len() >= PREFETCH_RULES_MIN {
            for &r in &matched {
                prefetch(&self.rules[r as usize]);
            }
        }
        let out = matched
            .iter()
            .map(|&r| {
                self.rules[r as usize]
                    .as_ref()
                    .expect("live rule")
                    .id
                    .clone()
            })
            .collect();
        s.matched = matched;
        Ok(out)
    }

    #[inline]
    fn branch_rule(&self, b: u32) -> u32 {
        self.branches[b as usize]
            .as_ref()
            .expect("live branch")
            .rule
    }

    /// Append to `keys_out` the keys tuple index `p` (`index`) is to be looked up by for the
    /// event's values, or, if there are too many, every branch of it to `found`.
    #[allow(clippy::too_many_arguments)]
    fn tuple_lookups(
        &self,
        p: u32,
        index: &TupleIndex,
        v: &mut Verifier,
        input: &[u8],
        s: &Scratch,
        keys_out: &mut Vec<(u32, u64)>,
        found: &mut Vec<u32>,
    ) {
        if !self.tuple_table.has_index(p) {
            return;
        }
        // The common case: exact values, one at each field.
        let mut acc = TUPLE_SEED;
        let mut simple = true;
        for side in &index.sides {
            let l = v.first_leaf(side.field);
            if l == NO_LEAF {
                return;
            }
            if side.prefix_lens.is_some() || v.leaf_next[l as usize] != NO_LEAF {
                simple = false;
            } else {
                acc = tuple_step(acc, v.leaf_hashes[l as usize]);
            }
        }
        if simple {
            keys_out.push((p, acc));
            return;
        }
        // The hashes of exact values were taken once per event (`Verifier::link_leaves`:
        // a field is hashed while an exact tuple side reads it); a value without one (0)
        // only looks up a key no branch is likely to have, which verification would
        // reject. Prefix sides hash the values' first bytes at each length keyed.
        let mut keys = std::mem::take(&mut v.tuple_keys);
        let mut accs = std::mem::take(&mut v.tuple_accs);
        let mut next = std::mem::take(&mut v.tuple_next);
        accs.clear();
        accs.push(TUPLE_SEED);
        let mut complete = true;
        // A key of one field is looked up once per value, whatever their number.
        let max = if index.sides.len() == 1 {
            usize::MAX
        } else {
            TUPLE_LOOKUPS_MAX
        };
        for side in &index.sides {
            keys.clear();
            if !side.event_hashes(v, input, s, &mut keys, max) || keys.len() * accs.len() > max {
                complete = false;
                break;
            }
            next.clear();
            for &a in &accs {
                next.extend(keys.iter().map(|&k| tuple_step(a, k)));
            }
            std::mem::swap(&mut accs, &mut next);
        }
        if complete {
            keys_out.extend(accs.iter().map(|&k| (p, k)));
        } else {
            // Too many combinations (arrays at several fields): verify every branch.
            self.tuple_table.extend_index(p, found);
        }
        v.tuple_keys = keys;
        v.tuple_accs = accs;
        v.tuple_next = next;
    }

    /// Does branch `b` match the scanned event? Every condition must be satisfied by a
    /// value at its path (or by the path's absence, for `exists: false`), and the values
    /// chosen must be array-consistent. Reads the conditions themselves (direct mode and
    /// branches without a key); [`Matcher::verify_compact`] is the same check from the
    /// branch's [`Check`].
    fn verify(&self, b: u32, v: &mut Verifier, input: &[u8], s: &Scratch) -> bool {
        let br = self.branches[b as usize].as_ref().expect("live branch");
        v.start_branch();
        for &c in &br.conds {
            if !self.satisfy_cond(c, v, input, s) {
                return false;
            }
        }
        v.consistent(s)
    }

    /// [`Matcher::verify`] from the branch's [`Check`].
    fn verify_compact(&self, b: u32, v: &mut Verifier, input: &[u8], s: &Scratch) -> bool {
        let tape = self.hot[b as usize].tape();
        v.start_branch();
        let mut i = 0;
        while i < tape.len() {
            let field = read_u32(tape, i);
            let kind = tape[i + 4];
            i += 5;
            if kind == CHECK_NUMS {
                let len = usize::from(read_u16(tape, i)) * RANGE_BYTES;
                let ranges = &tape[i + 2..i + 2 + len];
                i += 2 + len;
                let ok = v.satisfy(field, false, s, |leaf| {
                    matches!(s.value(input, leaf), EvVal::Num(n, _) if ranges_contain(ranges, n))
                });
                if !ok {
                    return false;
                }
            } else if kind == CHECK_ANY {
                if !v.satisfy(field, false, s, |_| true) {
                    return false;
                }
            } else if kind != CHECK_COND {
                let len = usize::from(read_u16(tape, i));
                let strs = &tape[i + 2..i + 2 + len];
                i += 2 + len;
                let ok =
                    if kind == CHECK_STRS {
                        v.satisfy(field, false, s, |leaf| {
                        matches!(s.value(input, leaf), EvVal::Str(x) if strs_match(strs, x))
                    })
                    } else {
                        v.satisfy(field, false, s, |leaf| {
                        !matches!(s.value(input, leaf), EvVal::Str(x) if strs_match(strs, x))
                    })
                    };
                if !ok {
                    return false;
                }
            } else {
                let c = read_u32(tape, i);
                i += 4;
                if !self.satisfy_cond(c, v, input, s) {
                    return false;
                }
            }
        }
        v.consistent(s)
    }

    /// Record the event's values satisfying condition `c` (see [`Verifier::satisfy`]).
    #[inline]
    fn satisfy_cond(&self, c: CondId, v: &mut Verifier, input: &[u8], s: &Scratch) -> bool {
        let cond = self.cond(c);
        v.satisfy(cond.field, cond.absent_ok, s, |leaf| {
            let val = s.value(input, leaf);
            cond.values.iter().any(|vp| eval(vp, &val))
        })
    }
}

/// The tuple key ([`TUPLE_SEED`]) of every combination of the conditions' values
/// ([`side_hash`]es).
fn tuple_hashes(conds: &[&Cond]) -> Vec<u64> {
    let mut accs = vec![TUPLE_SEED];
    for c in conds {
        accs = accs
            .iter()
            .flat_map(|&a| {
                c.values
                    .iter()
                    .filter_map(side_hash)
                    .map(move |h| tuple_step(a, h))
            })
            .collect();
    }
    accs
}

/// The [`TupleShape`] of conditions ascending by field.
fn tuple_shape(conds: &[&Cond]) -> TupleShape {
    let mut shape = [(u32::MAX, false); TUPLE_MAX];
    for (place, c) in shape.iter_mut().zip(conds) {
        *place = (c.field, tuple_side(c) == Some(Side::Prefix));
    }
    shape
}

/// Per-event state of branch verification (buffers borrowed from the thread's scratch).
struct Verifier {
    satisfied: Vec<u32>,
    groups: Vec<(u32, u32)>,
    leaf_next: Vec<u32>,
    /// Per leaf: [`leaf_hash`] of its value (0 if none: a [`Filter`] match on it only
    /// costs a full verification).
    leaf_hashes: Vec<u64>,
    field_first: Vec<u32>,
    field_stamps: Vec<u32>,
    generation: u32,
    /// Conditions of the branch being verified satisfied by a value inside an array.
    n_in_arrays: usize,
    /// Buffers of [`Matcher::lookup_tuple`]: one side's hashes, and the keys so far.
    tuple_keys: Vec<u64>,
    tuple_accs: Vec<u64>,
    tuple_next: Vec<u64>,
}

impl Verifier {
    fn start_branch(&mut self) {
        self.satisfied.clear();
        self.groups.clear();
        self.n_in_arrays = 0;
    }

    /// Record, as one group, the event's values at `field` that satisfy a condition
    /// (`pred`); `false` if the condition fails: no value satisfies it, unless it accepts
    /// absence and the field is absent.
    #[inline]
    fn satisfy(
        &mut self,
        field: u32,
        absent_ok: bool,
        s: &Scratch,
        mut pred: impl FnMut(&Leaf) -> bool,
    ) -> bool {
        let start = self.satisfied.len() as u32;
        let mut li = self.first_leaf(field);
        let present = li != NO_LEAF;
        let mut in_array = false;
        while li != NO_LEAF {
            let leaf = &s.leaves[li as usize];
            if pred(leaf) {
                self.satisfied.push(li);
                in_array |= leaf.arr_len > 0;
            }
            li = self.leaf_next[li as usize];
        }
        let end = self.satisfied.len() as u32;
        if start == end {
            return absent_ok && !present;
        }
        self.groups.push((start, end));
        self.n_in_arrays += usize::from(in_array);
        true
    }

    /// Can one value be chosen per recorded group, array-consistently?
    fn consistent(&self, s: &Scratch) -> bool {
        if self.groups.len() <= 1 || self.n_in_arrays <= 1 {
            return true;
        }
        // Values from arrays on several conditions: search for an array-consistent choice.
        let mut chosen = Vec::with_capacity(self.groups.len());
        let mut budget = CONSISTENCY_BUDGET;
        consistent_choice(self, 0, &mut chosen, s, &mut budget)
    }

    /// Chain the event's leaves by field, so a condition reads only its own path's
    /// values (a field's list is valid while its stamp is the current generation).
    fn link_leaves(&mut self, s: &Scratch, input: &[u8], hashed: &[u32]) {
        let n_fields = hashed.len();
        self.leaf_hashes.clear();
        self.leaf_hashes.extend(s.leaves.iter().map(|l| {
            if hashed[l.field as usize] > 0 {
                leaf_hash(&s.value(input, l)).unwrap_or(0)
            } else {
                0
            }
        }));
        if self.field_stamps.len() < n_fields {
            self.field_stamps.resize(n_fields, 0);
            self.field_first.resize(n_fields, NO_LEAF);
        }
        self.leaf_next.clear();
        self.leaf_next.resize(s.leaves.len(), NO_LEAF);
        for (li, leaf) in s.leaves.iter().enumerate().rev() {
            let f = leaf.field as usize;
            if self.field_stamps[f] == self.generation {
                self.leaf_next[li] = self.field_first[f];
            } else {
                self.field_stamps[f] = self.generation;
            }
            self.field_first[f] = li as u32;
        }
    }

    #[inline]
    fn first_leaf(&self, field: u32) -> u32 {
        if self.field_stamps[field as usize] == self.generation {
            self.field_first[field as usize]
        } else {
            NO_LEAF
        }
    }
}

/// Record rule `r` as matched by the current event unless it already is.
#[inline(always)]
fn mark(stamps: &mut [u32], generation: u32, r: u32, matched: &mut Vec<u32>) {
    let st = &mut stamps[r as usize];
    if *st != generation {
        *st = generation;
        matched.push(r);
    }
}

fn alloc<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, value: T) -> u32 {
    match free.pop() {
        Some(i) => {
            slots[i as usize] = Some(value);
            i
        }
        None => {
            slots.push(Some(value));
            (slots.len() - 1) as u32
        }
    }
}

/// Two values can be combined unless they come from different elements of one array.
#[inline]
fn consistent(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x.0 != y.0 {
            return true;
        }
        if x.1 != y.1 {
            return false;
        }
    }
    true
}

/// Choose one satisfying leaf per condition group `i..`, each consistent with `chosen`.
fn consistent_choice(
    v: &Verifier,
    i: usize,
    chosen: &mut Vec<u32>,
    s: &Scratch,
    budget: &mut usize,
) -> bool {
    let Some(&(start, end)) = v.groups.get(i) else {
        return true;
    };
    for &li in &v.satisfied[start as usize..end as usize] {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let m = s.membership(&s.leaves[li as usize]);
        if chosen
            .iter()
            .all(|&o| consistent(s.membership(&s.leaves[o as usize]), m))
        {
            chosen.push(li);
            if consistent_choice(v, i + 1, chosen, s, budget) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_replace_remove() {
        let mut m: Matcher<&str> = Matcher::new();
        m.add_rule("a", r#"{"x": ["1"]}"#).unwrap();
        m.add_rule("b", r#"{"x": [{"prefix": "1"}]}"#).unwrap();
        assert_eq!(m.len(), 2);
        let mut got = m.matches_for_event(br#"{"x": "1"}"#).unwrap();
        got.sort();
        assert_eq!(got, vec!["a", "b"]);
        m.add_rule("a", r#"{"x": ["2"]}"#).unwrap();
        assert_eq!(m.matches_for_event(br#"{"x": "1"}"#).unwrap(), vec!["b"]);
        assert!(m.remove_rule(&"b"));
        assert!(!m.remove_rule(&"b"));
        assert!(m.matches_for_event(br#"{"x": "1"}"#).unwrap().is_empty());
        assert_eq!(m.matches_for_event(br#"{"x": "2"}"#).unwrap(), vec!["a"]);
        assert!(m.add_rule("c", "{").is_err());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn always_branches() {
        let mut m: Matcher<u32> = Matcher::new();
        m.add_rule(1, r#"{"x": [{"exists": false}]}"#).unwrap();
        m.add_rule(2, r#"{"y": ["a"]}"#).unwrap();
        assert_eq!(m.matches_for_event(br#"{"y": "a"}"#).unwrap().len(), 2);
        assert_eq!(m.matches_for_event(br#"{"x": "a"}"#).unwrap().len(), 0);
    }

    /// The fields of each branch's key.
    fn key_fields(m: &Matcher<u32>) -> Vec<Vec<&str>> {
        let path = |c: CondId| m.field_paths[m.cond(c).field as usize].as_str();
        m.branches
            .iter()
            .flatten()
            .map(|br| match br.key.expect("keyed") {
                Key::Cond(c) => vec![path(c)],
                Key::Tuple(t) => t.conds().iter().map(|&c| path(c)).collect(),
            })
            .collect()
    }

    #[test]
    fn prefixes_shared_by_many_rules_are_keyed_with_an_exact_value() {
        // Each ARN prefix (an account) is named by 8 rules, each event name by 20 and the
        // source by all: only the prefix together with the event name is selective.
        let mut m: Matcher<u32> = Matcher::new();
        let names = [
            "Put", "Get", "Delete", "List", "Copy", "Head", "Tag", "Lock",
        ];
        for acct in 0..20u32 {
            for (i, name) in names.iter().enumerate() {
                let rule = format!(
                    r#"{{"source":["aws.s3"],"detail":{{"eventName":["{name}"],"arn":[{{"prefix":"arn:aws:iam::{acct:012}:user/"}}]}}}}"#
                );
                m.add_rule(acct * 8 + i as u32, &rule).unwrap();
            }
        }
        for (i, fields) in key_fields(&m).into_iter().enumerate() {
            assert!(
                fields.contains(&"detail.eventName") && fields.contains(&"detail.arn"),
                "branch {i}: {fields:?}"
            );
        }
        let event = |acct: u32, name: &str, user: &str| {
            format!(
                r#"{{"source":"aws.s3","detail":{{"eventName":"{name}","arn":"arn:aws:iam::{acct:012}:{user}"}}}}"#
            )
        };
        let got = |m: &Matcher<u32>, e: String| m.matches_for_event(e.as_bytes()).unwrap();
        assert_eq!(got(&m, event(3, "Get", "user/ann")), vec![3 * 8 + 1]);
        assert_eq!(got(&m, event(19, "Lock", "user/")), vec![19 * 8 + 7]);
        assert!(got(&m, event(3, "Get", "role/ops")).is_empty());
        assert!(got(&m, event(3, "Other", "user/ann")).is_empty());
        assert!(got(&m, event(20, "Get", "user/ann")).is_empty());
        // Removing rules leaves the others found.
        for id in 0..80 {
            assert!(m.remove_rule(&id));
        }
        assert!(got(&m, event(3, "Get", "user/ann")).is_empty());
        assert_eq!(got(&m, event(12, "Put", "user/ann")), vec![12 * 8]);
    }

    #[test]
    fn a_tuple_index_hashes_few_prefix_lengths() {
        // Prefixes of 16 different lengths, each shared by many rules: at most
        // TUPLE_PREFIX_LENS_MAX of those lengths key tuples, the other rules are keyed
        // another way, and every rule is still found.
        let mut m: Matcher<u32> = Matcher::new();
        let arn = "arn:aws:iam::123456789012:user/ann";
        let mut rules = Vec::new();
        for len in 10..26usize {
            for k in 0..10u32 {
                let id = rules.len() as u32;
                let rule = format!(
                    r#"{{"a":[{{"prefix":"{}"}}],"b":["v{k}"],"c":["w{}"]}}"#,
                    &arn[..len],
                    id % 3
                );
                m.add_rule(id, &rule).unwrap();
                rules.push((id, len, k));
            }
        }
        for index in &m.tuples {
            for side in &index.sides {
                let lens = side.prefix_lens.as_ref().map_or(0, Vec::len);
                assert!(lens <= TUPLE_PREFIX_LENS_MAX, "{lens} prefix lengths");
            }
        }
        for k in 0..10u32 {
            let e = format!(r#"{{"a":"{arn}","b":"v{k}","c":"w1"}}"#);
            let mut got = m.matches_for_event(e.as_bytes()).unwrap();
            got.sort_unstable();
            let want: Vec<u32> = rules
                .iter()
                .filter(|&&(id, _, kk)| kk == k && id % 3 == 1)
                .map(|&(id, _, _)| id)
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn an_exact_key_of_one_field_is_looked_up_for_each_value() {
        // Each user is named by one rule, the operation by all: the user alone keys each
        // branch, in the tuple table (a tuple of one).
        let mut m: Matcher<u32> = Matcher::new();
        for u in 0..50u32 {
            let rule = format!(r#"{{"user":["u{u}"],"op":["Put"]}}"#);
            m.add_rule(u, &rule).unwrap();
        }
        m.add_rule(50, r#"{"user":[7],"op":["Put"]}"#).unwrap();
        assert!(key_fields(&m).iter().all(|f| f == &["user"]));
        let one = m.tuples.iter().position(|t| t.sides.len() == 1).unwrap() as u32;
        assert!(m.tuple_table.has_index(one));
        assert!(m.fields.iter().all(FieldIndex::is_empty));
        let got = |m: &Matcher<u32>, e: &str| {
            let mut got = m.matches_for_event(e.as_bytes()).unwrap();
            got.sort_unstable();
            got
        };
        assert_eq!(got(&m, r#"{"user":"u7","op":"Put"}"#), vec![7]);
        assert_eq!(got(&m, r#"{"user":7.0,"op":"Put"}"#), vec![50]);
        assert!(got(&m, r#"{"user":"u7","op":"Get"}"#).is_empty());
        assert!(got(&m, r#"{"user":"u70","op":"Put"}"#).is_empty());
        // More values at the field than a tuple of several fields looks up.
        let users: Vec<u32> = (0..400).map(|i| i * 7 % 1000).collect();
        let list: Vec<String> = users.iter().map(|u| format!("\"u{u}\"")).collect();
        let event = format!(r#"{{"user":[{}],"op":"Put"}}"#, list.join(","));
        let mut want: Vec<u32> = users.into_iter().filter(|&u| u < 50).collect();
        want.sort_unstable();
        assert_eq!(got(&m, &event), want);
        for u in 0..=50 {
            assert!(m.remove_rule(&u));
        }
        assert!(!m.tuple_table.has_index(one));
        assert!(got(&m, r#"{"user":"u7","op":"Put"}"#).is_empty());
    }

    #[test]
    fn numeric_and_exists_conditions_are_checked_from_the_tape() {
        let mut m: Matcher<u32> = Matcher::new();
        m.add_rule(
            1,
            r#"{"b":["x"],"n":[{"numeric":[">",10,"<=",20]},{"numeric":["=",30]}]}"#,
        )
        .unwrap();
        m.add_rule(2, r#"{"b":["x"],"e":[{"exists":true}]}"#)
            .unwrap();
        let kinds = |b: usize| {
            let tape = m.hot[b].tape();
            let mut i = 0;
            let mut kinds = Vec::new();
            while i < tape.len() {
                let kind = tape[i + 4];
                kinds.push(kind);
                i += 5 + match kind {
                    CHECK_NUMS => 2 + RANGE_BYTES * usize::from(read_u16(tape, i + 5)),
                    CHECK_ANY => 0,
                    CHECK_COND => 4,
                    _ => 2 + usize::from(read_u16(tape, i + 5)),
                };
            }
            kinds
        };
        assert_eq!(kinds(0), [CHECK_NUMS, CHECK_STRS]);
        assert_eq!(kinds(1), [CHECK_ANY, CHECK_STRS]);
        let got = |e: &str| m.matches_for_event(e.as_bytes()).unwrap();
        assert_eq!(got(r#"{"b":"x","n":20}"#), vec![1]);
        assert_eq!(got(r#"{"b":"x","n":[3, 3e1]}"#), vec![1]);
        assert!(got(r#"{"b":"x","n":10}"#).is_empty());
        assert!(got(r#"{"b":"x","n":"15"}"#).is_empty());
        assert_eq!(got(r#"{"b":"x","e":null,"n":15}"#), vec![1, 2]);
        assert!(got(r#"{"b":"y","e":1}"#).is_empty());
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_sync() {
        assert_send_sync::<Matcher<String>>();
    }
}
