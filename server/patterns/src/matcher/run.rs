//! Matching one event: the scan, the key lookups (tuple keys requested first, then the
//! field indexes), gathering and filtering candidates, and verifying them.

use super::check::{
    ranges_contain, read_u16, read_u32, strs_match, CHECK_ANY, CHECK_COND, CHECK_NUMS, CHECK_STRS,
    RANGE_BYTES,
};
use super::filter::Filter;
use super::hash::{tuple_step, TUPLE_SEED};
use super::slots::{Hot, TAPE_ON_HEAP};
use super::tuple::{TupleIndex, TUPLE_LOOKUPS_MAX};
use super::verify::{Verifier, NO_LEAF};
use super::{Matcher, NO_RULE};
use crate::error::EventError;
use crate::index::{eval, CondId};
use crate::prefetch::prefetch;
use crate::scan::{scan, EvVal, Scratch};
use std::hash::Hash;

/// Rule slots from which the matched rules' slots are requested before reading their ids.
const PREFETCH_RULES_MIN: usize = 1024;

/// The matcher's per-thread buffers, kept beside the scanner's [`Scratch`] and borrowed
/// for one event at a time (nothing is moved out of them and back per event).
#[derive(Default)]
pub(super) struct Work {
    tmp: Vec<u32>,
    lower: Vec<u8>,
    matched: Vec<u32>,
    /// Per rule slot: generation of the last event that matched it.
    stamps: Vec<u32>,
    /// Per branch slot: generation of the last event that verified it.
    branch_stamps: Vec<u32>,
    /// Candidate branches of the current event.
    candidates: Vec<u32>,
    /// Tuple index and key of each lookup in the tuple table.
    tuple_lookups: Vec<(u32, u64)>,
    generation: u32,
    v: Verifier,
}

impl<Id: Clone + Eq + Hash> Matcher<Id> {
    pub(super) fn run(
        &self,
        input: &[u8],
        s: &mut Scratch,
        w: &mut Work,
    ) -> Result<Vec<Id>, EventError> {
        scan(input, &self.trie, s, self.strict)?;
        let s: &Scratch = s;
        let Work {
            tmp,
            lower,
            matched,
            stamps,
            branch_stamps,
            candidates: cands,
            tuple_lookups,
            generation: thread_generation,
            v,
        } = w;
        matched.clear();
        // Rules matched by this event (and branches verified for it) are marked with a
        // fresh generation number (shared by every matcher the thread uses; a stale mark
        // is never equal to the current generation), so no set or sort is needed.
        *thread_generation = thread_generation.wrapping_add(1);
        if *thread_generation == 0 {
            stamps.fill(0);
            branch_stamps.fill(0);
            v.field_stamps.fill(0);
            *thread_generation = 1;
        }
        let generation = *thread_generation;
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
                    if stamps[br.rule as usize] != generation && self.verify(b as u32, v, input, s)
                    {
                        mark(stamps, generation, br.rule, matched);
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
            tuple_lookups.clear();
            let linked = self.tuple_keyed > 0 || !self.always.is_empty();
            if linked {
                v.link_leaves(s, input, &self.hashed);
            }
            if self.tuple_keyed > 0 {
                for (p, index) in self.tuples.iter().enumerate() {
                    self.tuple_lookups(p as u32, index, v, input, s, tuple_lookups, cands);
                }
                // Most keys are in no index: the table's presence filter rules them out
                // before any slot is requested.
                tuple_lookups.retain(|&(p, k)| self.tuple_table.may_hold(p, k));
                for &(_, k) in tuple_lookups.iter() {
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
                index.lookup(&val, lower, tmp);
            }
            if !tuple_lookups.is_empty() {
                for &c in tmp.iter() {
                    prefetch(&self.cond_target[c as usize]);
                }
                for &(p, k) in tuple_lookups.iter() {
                    self.tuple_table.get(p, k, cands);
                }
            }
            for &c in tmp.iter() {
                let (r, b) = self.cond_target[c as usize];
                if r != NO_RULE {
                    // A one-condition branch: any hit matches its rule.
                    mark(stamps, generation, r, matched);
                    continue;
                }
                cands.push(b);
            }
            // Rule sets made of one-condition branches are done here.
            if !cands.is_empty() || linked {
                if !linked {
                    v.link_leaves(s, input, &self.hashed);
                }
                self.verify_candidates(cands, v, input, s, stamps, branch_stamps, matched);
            }
        }
        if matched.len() > 1 {
            matched.sort_unstable();
        }
        // With thousands of rules their slots are rarely in cache: request them together.
        if self.rules.len() >= PREFETCH_RULES_MIN {
            for &r in matched.iter() {
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
        Ok(out)
    }

    /// Verify the candidate branches `cands` (the key hits of an event, some perhaps
    /// repeated) and the branches without a key, marking the rules they match.
    #[allow(clippy::too_many_arguments)]
    fn verify_candidates(
        &self,
        cands: &mut Vec<u32>,
        v: &mut Verifier,
        input: &[u8],
        s: &Scratch,
        stamps: &mut [u32],
        branch_stamps: &mut [u32],
        matched: &mut Vec<u32>,
    ) {
        let generation = v.generation;
        cands.retain(|&b| {
            let bs = &mut branch_stamps[b as usize];
            let fresh = *bs != generation;
            *bs = generation;
            fresh
        });
        for &b in cands.iter() {
            let hot: *const Hot = &self.hot[b as usize];
            prefetch(hot);
            prefetch(hot.cast::<u8>().wrapping_add(64));
            prefetch(hot.cast::<u8>().wrapping_add(128));
        }
        for &b in cands.iter() {
            if let Filter::Heap(w) = &self.hot[b as usize].filter {
                prefetch(w.as_ptr());
            }
        }
        // Survivors of the filters are verified in a second pass, after requesting
        // their branch slots.
        cands.retain(|&b| {
            let hot = &self.hot[b as usize];
            stamps[hot.rule as usize] != generation && hot.filter.passes(v, input, s)
        });
        for &b in cands.iter() {
            let hot = &self.hot[b as usize];
            if hot.tape_len == TAPE_ON_HEAP {
                prefetch(hot.spill.as_ptr());
                if hot.spill.len() > 64 {
                    prefetch(hot.spill[64..].as_ptr());
                }
            }
        }
        for &b in cands.iter() {
            let r = self.hot[b as usize].rule;
            if stamps[r as usize] != generation && self.verify_compact(b, v, input, s) {
                mark(stamps, generation, r, matched);
            }
        }
        for &b in &self.always {
            let r = self.branch_rule(b);
            if stamps[r as usize] != generation && self.verify(b, v, input, s) {
                mark(stamps, generation, r, matched);
            }
        }
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
    ///
    /// [`Check`]: super::check::Check
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
    ///
    /// [`Check`]: super::check::Check
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

/// Record rule `r` as matched by the current event unless it already is.
#[inline(always)]
fn mark(stamps: &mut [u32], generation: u32, r: u32, matched: &mut Vec<u32>) {
    let st = &mut stamps[r as usize];
    if *st != generation {
        *st = generation;
        matched.push(r);
    }
}
