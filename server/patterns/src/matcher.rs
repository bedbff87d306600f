//! The compiled multi-rule matcher.
//!
//! Rules are split into *branches* (one per `$or` alternative) and branches into
//! *conditions* (one per field path: "the value at this path matches one of these
//! value matchers", optionally "... or the path is absent" for `exists: false`).
//! Every value matcher is stored in the [`FieldIndex`] of its path, keyed so that looking
//! up an event value costs the same whatever the number of rules.
//!
//! Matching an event: scan it once, recording only values at paths some rule names
//! (see [`crate::scan`]); look each value up in its field index. A hit on a condition
//! whose branch has no other condition matches its rule at once (rules are deduplicated
//! with a per-thread generation-stamped array, not a set); the other hits become
//! `(branch, condition, value)` triples, sorted by branch, and each touched branch is
//! checked: every condition satisfied, and the chosen values array-consistent
//! (values taken from different elements of the same array may not be combined, as in
//! event-ruler). Branches made only of `exists: false` conditions have no hits to be
//! found by, so they are checked on every event.

use crate::compile::ValuePattern;
use crate::error::{EventError, PatternError};
use crate::index::{CondId, FieldIndex};
use crate::pattern::EventPattern;
use crate::scan::{scan, Leaf, Scratch, Trie};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

/// Bound on the array-consistency search per branch and event (each step tries one
/// value for one condition); beyond it the branch is reported as not matching.
const CONSISTENCY_BUDGET: usize = 100_000;

/// `cond_rule` value of a condition whose branch has several conditions.
const NO_RULE: u32 = u32::MAX;

struct Cond {
    branch: u32,
    field: u32,
    /// Satisfied by the field being absent (`exists: false` in the value list).
    absent_ok: bool,
    values: Vec<ValuePattern>,
}

struct BranchSlot {
    rule: u32,
    /// Condition ids, ascending.
    conds: Vec<CondId>,
}

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
    /// Per condition: the rule it belongs to if its branch has no other condition (a hit
    /// then matches the rule outright), else [`NO_RULE`].
    cond_rule: Vec<u32>,
    free_conds: Vec<u32>,
    branches: Vec<Option<BranchSlot>>,
    free_branches: Vec<u32>,
    /// Branches with no condition that needs a value, ascending.
    always: Vec<u32>,
    rules: Vec<Option<RuleSlot<Id>>>,
    free_rules: Vec<u32>,
    by_id: HashMap<Id, u32>,
    strict: bool,
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

impl<Id: Clone + Eq + Hash> Matcher<Id> {
    /// An empty matcher.
    pub fn new() -> Self {
        Matcher {
            trie: Trie::default(),
            field_ids: HashMap::new(),
            field_paths: Vec::new(),
            fields: Vec::new(),
            conds: Vec::new(),
            cond_rule: Vec::new(),
            free_conds: Vec::new(),
            branches: Vec::new(),
            free_branches: Vec::new(),
            always: Vec::new(),
            rules: Vec::new(),
            free_rules: Vec::new(),
            by_id: HashMap::new(),
            strict: false,
        }
    }

    /// Strict mode: read and check the whole event, so malformed JSON anywhere in it is
    /// an error. By default (not strict) scanning stops as soon as every field some rule
    /// names has been seen, and skipped values are checked only lightly; this is much
    /// faster and gives the same matches for every well-formed event without duplicate keys.
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
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

    /// Parse, validate and add a pattern under `id`, replacing the pattern `id` had.
    /// On error the matcher is unchanged.
    pub fn add_rule(&mut self, id: Id, pattern: &str) -> Result<(), PatternError> {
        let p = EventPattern::parse(pattern)?;
        self.add_pattern(id, &p);
        Ok(())
    }

    /// Add an already-validated pattern under `id`, replacing the pattern `id` had.
    pub fn add_pattern(&mut self, id: Id, pattern: &EventPattern) {
        self.remove_rule(&id);
        let rule = alloc(
            &mut self.rules,
            &mut self.free_rules,
            RuleSlot {
                id: id.clone(),
                branches: Vec::new(),
            },
        );
        let mut branch_ids = Vec::with_capacity(pattern.branches().len());
        for branch in pattern.branches() {
            let b = alloc(
                &mut self.branches,
                &mut self.free_branches,
                BranchSlot {
                    rule,
                    conds: Vec::new(),
                },
            );
            let mut conds = Vec::with_capacity(branch.len());
            let mut required = 0;
            for (path, values) in branch {
                let field = self.intern_field(path);
                let absent_ok = values.contains(&ValuePattern::Exists(false));
                if !absent_ok {
                    required += 1;
                }
                let c = alloc(
                    &mut self.conds,
                    &mut self.free_conds,
                    Cond {
                        branch: b,
                        field,
                        absent_ok,
                        values: values.clone(),
                    },
                );
                for v in values {
                    self.fields[field as usize].add(v, c);
                }
                conds.push(c);
            }
            conds.sort_unstable();
            if self.cond_rule.len() < self.conds.len() {
                self.cond_rule.resize(self.conds.len(), NO_RULE);
            }
            let single = if conds.len() == 1 { rule } else { NO_RULE };
            for &c in &conds {
                self.cond_rule[c as usize] = single;
            }
            self.branches[b as usize]
                .as_mut()
                .expect("just allocated")
                .conds = conds;
            if required == 0 {
                let at = self.always.partition_point(|&x| x < b);
                self.always.insert(at, b);
            }
            branch_ids.push(b);
        }
        self.rules[rule as usize]
            .as_mut()
            .expect("just allocated")
            .branches = branch_ids;
        self.by_id.insert(id, rule);
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
            if let Ok(at) = self.always.binary_search(&b) {
                self.always.remove(at);
            }
            for c in br.conds {
                let cond = self.conds[c as usize].take().expect("live condition");
                self.cond_rule[c as usize] = NO_RULE;
                self.free_conds.push(c);
                for v in &cond.values {
                    self.fields[cond.field as usize].remove(v, c);
                }
                self.trie.remove(&self.field_paths[cond.field as usize]);
            }
        }
        true
    }

    fn intern_field(&mut self, path: &str) -> u32 {
        let id = match self.field_ids.get(path) {
            Some(&id) => id,
            None => {
                let id = self.fields.len() as u32;
                self.fields.push(FieldIndex::default());
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
        let mut hits = std::mem::take(&mut s.hits);
        let mut tmp = std::mem::take(&mut s.tmp);
        let mut lower = std::mem::take(&mut s.lower);
        let mut matched = std::mem::take(&mut s.matched);
        let mut stamps = std::mem::take(&mut s.stamps);
        hits.clear();
        matched.clear();
        // Rules matched by this event are marked with a fresh generation number in
        // `stamps` (shared by every matcher the thread uses; a stale mark is never equal
        // to the current generation), so no set or sort is needed to deduplicate.
        s.generation = s.generation.wrapping_add(1);
        if s.generation == 0 {
            stamps.fill(0);
            s.generation = 1;
        }
        if stamps.len() < self.rules.len() {
            stamps.resize(self.rules.len(), 0);
        }
        let generation = s.generation;
        for (li, leaf) in s.leaves.iter().enumerate() {
            tmp.clear();
            let v = s.value(input, leaf);
            self.fields[leaf.field as usize].lookup(&v, &mut lower, &mut tmp);
            for &c in &tmp {
                let r = self.cond_rule[c as usize];
                if r != NO_RULE {
                    // A one-condition branch: any hit matches its rule.
                    mark(&mut stamps, generation, r, &mut matched);
                    continue;
                }
                let cond = self.conds[c as usize]
                    .as_ref()
                    .expect("indexed condition is live");
                hits.push((cond.branch, c, li as u32));
            }
        }
        if hits.len() > 1 {
            hits.sort_unstable();
            hits.dedup();
        }
        let mut i = 0;
        let mut always_iter = self.always.iter().peekable();
        while i < hits.len() {
            let b = hits[i].0;
            let mut j = i + 1;
            while j < hits.len() && hits[j].0 == b {
                j += 1;
            }
            while let Some(&&a) = always_iter.peek() {
                if a >= b {
                    if a == b {
                        always_iter.next();
                    }
                    break;
                }
                always_iter.next();
                let r = self.branch_rule(a);
                if stamps[r as usize] != generation && self.branch_matches(a, &[], s) {
                    mark(&mut stamps, generation, r, &mut matched);
                }
            }
            let r = self.branch_rule(b);
            if stamps[r as usize] != generation && self.branch_matches(b, &hits[i..j], s) {
                mark(&mut stamps, generation, r, &mut matched);
            }
            i = j;
        }
        for &a in always_iter {
            let r = self.branch_rule(a);
            if stamps[r as usize] != generation && self.branch_matches(a, &[], s) {
                mark(&mut stamps, generation, r, &mut matched);
            }
        }
        s.hits = hits;
        s.tmp = tmp;
        s.lower = lower;
        s.stamps = stamps;
        if matched.len() > 1 {
            matched.sort_unstable();
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

    /// Check one branch given its hits (sorted by condition).
    fn branch_matches(&self, b: u32, hits: &[(u32, u32, u32)], s: &Scratch) -> bool {
        let br = self.branches[b as usize].as_ref().expect("live branch");
        // Fast path: one condition satisfied by a hit.
        if br.conds.len() == 1 && !hits.is_empty() {
            return true;
        }
        // First pass, allocation-free: every condition has a hit (or may be absent), and
        // how many of the hit groups involve array elements.
        let in_array = |g: &[(u32, u32, u32)]| g.iter().any(|h| s.leaves[h.2 as usize].arr_len > 0);
        let (mut n_groups, mut n_in_arrays) = (0usize, 0usize);
        let mut k = 0;
        for &c in &br.conds {
            while k < hits.len() && hits[k].1 < c {
                k += 1;
            }
            let start = k;
            while k < hits.len() && hits[k].1 == c {
                k += 1;
            }
            if start == k {
                let cond = self.conds[c as usize].as_ref().expect("live condition");
                if cond.absent_ok && !s.leaves.iter().any(|l| l.field == cond.field) {
                    continue;
                }
                return false;
            }
            n_groups += 1;
            if in_array(&hits[start..k]) {
                n_in_arrays += 1;
            }
        }
        if n_groups <= 1 || n_in_arrays <= 1 {
            return true;
        }
        // Values from arrays on several conditions: search for an array-consistent choice.
        let mut groups: Vec<&[(u32, u32, u32)]> = Vec::with_capacity(n_groups);
        let mut k = 0;
        for &c in &br.conds {
            while k < hits.len() && hits[k].1 < c {
                k += 1;
            }
            let start = k;
            while k < hits.len() && hits[k].1 == c {
                k += 1;
            }
            if start < k {
                groups.push(&hits[start..k]);
            }
        }
        let mut chosen: Vec<&Leaf> = Vec::with_capacity(groups.len());
        let mut budget = CONSISTENCY_BUDGET;
        consistent_choice(&groups, 0, &mut chosen, s, &mut budget)
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

fn consistent_choice<'s>(
    groups: &[&[(u32, u32, u32)]],
    i: usize,
    chosen: &mut Vec<&'s Leaf>,
    s: &'s Scratch,
    budget: &mut usize,
) -> bool {
    if i == groups.len() {
        return true;
    }
    for h in groups[i] {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let leaf = &s.leaves[h.2 as usize];
        let m = s.membership(leaf);
        if chosen.iter().all(|o| consistent(s.membership(o), m)) {
            chosen.push(leaf);
            if consistent_choice(groups, i + 1, chosen, s, budget) {
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

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_sync() {
        assert_send_sync::<Matcher<String>>();
    }
}
