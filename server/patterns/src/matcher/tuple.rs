//! Tuple keys: the indexes of branches keyed by the values of several fields together
//! (or by one field's exact values, as a tuple of one), the side a condition can be in
//! such a key, and the hashes an event's values are looked up by.

use super::cond::{Cond, TupleShape, TUPLE_MAX};
use super::hash::{exact_hash, prefix_hash, tuple_step, TUPLE_SEED};
use super::verify::{Verifier, NO_LEAF};
use crate::compile::ValuePattern;
use crate::scan::{EvVal, Scratch};

/// Branches keyed by the values of two or three fields together, for branches none of
/// whose conditions is selective alone (a service, an account and a region, each shared
/// by hundreds of rules, while the triple is shared by few; or an operation and an ARN
/// prefix naming an account, where hundreds of rules share each prefix). Each side is
/// exact values or case-sensitive prefixes ([`Side`]). Keyed by the tuple key
/// ([`TUPLE_SEED`]) of the values' [`side_hash`]es: a collision only adds a candidate, which verification
/// rejects. The keys of every tuple index live in the matcher's one [`TupleTable`].
///
/// [`TupleTable`]: crate::tuple_table::TupleTable
pub(super) struct TupleIndex {
    pub(super) sides: Vec<TupleSide>,
}

/// One field of a [`TupleIndex`].
pub(super) struct TupleSide {
    pub(super) field: u32,
    /// `None` for exact values, looked up by the event value's [`leaf_hash`]. For
    /// prefixes, their distinct lengths (ascending) with how many keyed prefixes have
    /// each: an event value is looked up by the [`prefix_hash`] of its first bytes at
    /// each of these lengths.
    ///
    /// [`leaf_hash`]: super::hash::leaf_hash
    pub(super) prefix_lens: Option<Vec<(u32, u32)>>,
}

impl TupleSide {
    /// Count (or uncount) a keyed prefix of length `len`.
    pub(super) fn count_len(&mut self, len: usize, add: bool) {
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
    pub(super) fn event_hashes(
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
pub(super) enum Side {
    Exact,
    Prefix,
}

/// The [`Side`] a condition can be in a tuple key: it needs a value, has at most
/// [`TUPLE_VALUES_MAX`] values, and they are all exact or all prefixes.
pub(super) fn tuple_side(cond: &Cond) -> Option<Side> {
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
pub(super) const TUPLE_PREFIX_LENS_MAX: usize = 8;

/// At most this many value combinations of a tuple's fields are looked up per event; an
/// event with more (arrays at several fields) verifies every branch of the tuple instead.
pub(super) const TUPLE_LOOKUPS_MAX: usize = 256;

/// Conditions considered for tuple keys per branch (the first ones, by id), and values
/// per condition: bounds the tuples counted per branch (6 pairs and 4 triples).
pub(super) const TUPLE_CONDS_MAX: usize = 4;
const TUPLE_VALUES_MAX: usize = 4;

/// Can the condition key its branch in the tuple table alone: does it name values (no
/// `exists: false`), each an exact one with an [`exact_hash`]?
pub(super) fn exact_only(cond: &Cond) -> bool {
    !cond.absent_ok
        && !cond.values.is_empty()
        && cond.values.iter().all(|v| exact_hash(v).is_some())
}

/// The tuple key ([`TUPLE_SEED`]) of every combination of the conditions' values
/// ([`side_hash`]es).
pub(super) fn tuple_hashes(conds: &[&Cond]) -> Vec<u64> {
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
pub(super) fn tuple_shape(conds: &[&Cond]) -> TupleShape {
    let mut shape = [(u32::MAX, false); TUPLE_MAX];
    for (place, c) in shape.iter_mut().zip(conds) {
        *place = (c.field, tuple_side(c) == Some(Side::Prefix));
    }
    shape
}
