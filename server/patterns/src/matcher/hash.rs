//! The hashes values are keyed, filtered and counted by: of a value matcher (an exact
//! value, a prefix), of an event value (equal to its exact matcher's), of a tuple of
//! values, and the popularity-count keys that key choice reads.

use super::cond::Cond;
use crate::compile::ValuePattern;
use crate::fxhash::FxHasher;
use crate::scan::EvVal;
use std::hash::Hasher;

/// Hash of a string prefix for [`Filter`].
///
/// [`Filter`]: super::filter::Filter
#[inline]
pub(super) fn prefix_hash(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(9);
    h.write(bytes);
    h.finish()
}

/// Hash identifying a value matcher on a field for the popularity counts, and the weight
/// of one condition naming it: roughly how many events' worth of candidates a key on it
/// costs compared with an exact value. Exact values and affixes hit only events carrying
/// them; ranges, wildcards and CIDR blocks hit a share of all values (counted together per
/// field); `anything-but` and `exists: true` hit nearly every event that has the field.
/// `None` for `exists: false`, which no index holds.
pub(super) fn popularity_key(field: u32, vp: &ValuePattern) -> Option<(u64, u64)> {
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

/// Hash of a value matcher that matches exactly one event value (by bytes, number or
/// literal), equal to [`leaf_hash`] of that value; `None` for any other matcher
/// (including IP-shaped strings, which also match other spellings of the address).
pub(super) fn exact_hash(vp: &ValuePattern) -> Option<u64> {
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
///
/// Hashed for every recorded leaf of every event, from another module (and, as the
/// matcher is generic, from the crate that uses it): marked inline, so that a build
/// without LTO inlines it too.
#[inline]
pub(super) fn leaf_hash(v: &EvVal<'_>) -> Option<u64> {
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
///
/// [`TupleIndex`]: super::tuple::TupleIndex
pub(super) const TUPLE_SEED: u64 = 0x243F_6A88_85A3_08D3;

/// One step of a tuple key (see [`TUPLE_SEED`]): the key so far with the next value's
/// hash.
#[inline]
pub(super) fn tuple_step(acc: u64, value: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(acc);
    h.write_u64(value);
    h.finish()
}

/// Popularity-count key of a value tuple on its fields.
pub(super) fn tuple_popularity_key(conds: &[&Cond], tuple: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(0xFE);
    for c in conds {
        h.write_u32(c.field);
    }
    h.write_u64(tuple);
    h.finish()
}
