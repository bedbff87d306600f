//! Verifying a candidate branch against the scanned event: the event's values linked by
//! field, the values satisfying each condition, and the array-consistency search.

use super::hash::leaf_hash;
use crate::scan::{Leaf, Scratch};

/// Bound on the array-consistency search per branch and event (each step tries one
/// value for one condition); beyond it the branch is reported as not matching.
const CONSISTENCY_BUDGET: usize = 100_000;

/// End of a per-field leaf list.
pub(super) const NO_LEAF: u32 = u32::MAX;

/// Per-event state of branch verification (the thread's buffers, see [`Work`]).
///
/// [`Work`]: super::run::Work
#[derive(Default)]
pub(super) struct Verifier {
    pub(super) satisfied: Vec<u32>,
    pub(super) groups: Vec<(u32, u32)>,
    pub(super) leaf_next: Vec<u32>,
    /// Per leaf: [`leaf_hash`] of its value (0 if none: a [`Filter`] match on it only
    /// costs a full verification).
    ///
    /// [`Filter`]: super::filter::Filter
    pub(super) leaf_hashes: Vec<u64>,
    pub(super) field_first: Vec<u32>,
    pub(super) field_stamps: Vec<u32>,
    pub(super) generation: u32,
    /// Conditions of the branch being verified satisfied by a value inside an array.
    pub(super) n_in_arrays: usize,
    /// Buffers of [`Matcher::lookup_tuple`]: one side's hashes, and the keys so far.
    pub(super) tuple_keys: Vec<u64>,
    pub(super) tuple_accs: Vec<u64>,
    pub(super) tuple_next: Vec<u64>,
}

impl Verifier {
    pub(super) fn start_branch(&mut self) {
        self.satisfied.clear();
        self.groups.clear();
        self.n_in_arrays = 0;
    }

    /// Record, as one group, the event's values at `field` that satisfy a condition
    /// (`pred`); `false` if the condition fails: no value satisfies it, unless it accepts
    /// absence and the field is absent.
    #[inline]
    pub(super) fn satisfy(
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
    pub(super) fn consistent(&self, s: &Scratch) -> bool {
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
    pub(super) fn link_leaves(&mut self, s: &Scratch, input: &[u8], hashed: &[u32]) {
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
    pub(super) fn first_leaf(&self, field: u32) -> u32 {
        if self.field_stamps[field as usize] == self.generation {
            self.field_first[field as usize]
        } else {
            NO_LEAF
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
