//! Compiling branches into the indexes: popularity counts, the choice of each branch's
//! key (its most selective condition or tuple), indexing it, its filter, and keys
//! re-chosen a few at a time as rules come and go.

use super::cond::{Cond, Key, Tuple};
use super::filter::Filter;
use super::hash::{popularity_key, tuple_popularity_key};
use super::tuple::{
    exact_only, tuple_hashes, tuple_shape, tuple_side, Side, TupleIndex, TupleSide,
    TUPLE_CONDS_MAX, TUPLE_PREFIX_LENS_MAX,
};
use super::Matcher;
use crate::compile::ValuePattern;
use crate::index::{CondId, FieldIndex};
use std::hash::Hash;

/// Branch slots whose key is re-chosen at each rule added or removed. With 4, a pass
/// over all slots takes a quarter as many changes as there are slots, so while rules
/// are being added every key was re-chosen when the matcher had at least about three
/// quarters of its current branches.
pub(super) const REKEY_PER_CHANGE: usize = 4;

/// Fixed-point scale of per-combination tuple costs in [`Matcher::best_key`].
const COST_SCALE: u64 = 1024;

impl<Id: Clone + Eq + Hash> Matcher<Id> {
    /// Add (or remove) branch `b` (`single`: with one condition) to (from) the index of
    /// its key.
    pub(super) fn index(&mut self, b: u32, key: Key, single: bool, add: bool) {
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
    pub(super) fn set_filter(&mut self, b: u32, filter: Filter) {
        let old = std::mem::replace(&mut self.hot[b as usize].filter, filter);
        for f in old.fields() {
            self.hashed[f as usize] -= 1;
        }
        for f in self.hot[b as usize].filter.fields() {
            self.hashed[f as usize] += 1;
        }
    }

    /// The [`Filter`] of a branch with these conditions and key.
    pub(super) fn filter(&self, conds: &[CondId], key: Option<Key>) -> Filter {
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
    pub(super) fn cond(&self, c: CondId) -> &Cond {
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
    pub(super) fn count_tuples(&mut self, conds: &[CondId], add: bool) {
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
    pub(super) fn count(&mut self, field: u32, values: &[ValuePattern], add: bool) {
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
    pub(super) fn best_key(&self, conds: &[CondId]) -> Option<Key> {
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
    pub(super) fn rekey_some(&mut self) {
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

    pub(super) fn intern_field(&mut self, path: &str) -> u32 {
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
}
