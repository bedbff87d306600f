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
//!
//! Files: this one holds [`Matcher`] and its API; `keys` compiles branches into the
//! indexes and chooses their keys, `run` matches one event; below them `slots` (rule and
//! branch slots, [`Hot`]), `filter`, `check`, `tuple`, `verify`, `hash` and `cond` (the
//! shared condition and key types). Imports run downwards only: `keys` and `run` use
//! this file's [`Matcher`], which uses the files below, none of which uses a file above.
//!
//! [`REKEY_PER_CHANGE`]: self::keys::REKEY_PER_CHANGE

mod check;
mod cond;
mod filter;
mod hash;
mod keys;
mod run;
mod slots;
mod tuple;
mod verify;

use self::check::Check;
use self::cond::{Cond, Key, TupleShape};
use self::filter::Filter;
use self::run::Work;
use self::slots::{alloc, BranchSlot, Hot, RuleSlot};
use self::tuple::TupleIndex;
use crate::compile::{Branch, ValuePattern};
use crate::error::EventError;
use crate::fxhash::FxHashMap;
use crate::index::{CondId, FieldIndex};
use crate::scan::{Scratch, Trie};
use crate::tuple_table::TupleTable;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

/// `cond_target` rule of a condition that does not match its rule on its own.
const NO_RULE: u32 = u32::MAX;

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
    ///
    /// [`popularity_key`]: hash::popularity_key
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
    /// The scanner's and the matcher's buffers, reused from event to event.
    static SCRATCH: RefCell<(Scratch, Work)> = RefCell::default();
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

    /// Ids of all rules the event matches (each once, in no particular order).
    ///
    /// The event is scanned once; only values at paths some rule names are decoded.
    /// See [`Matcher::set_strict`] for how much of a malformed event is detected.
    pub fn matches_for_event(&self, event_json: &[u8]) -> Result<Vec<Id>, EventError> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let (s, w) = &mut *scratch;
                self.run(event_json, s, w)
            }
            Err(_) => self.run(event_json, &mut Scratch::default(), &mut Work::default()),
        })
    }

    /// `true` if the event matches at least one rule.
    pub fn has_matches(&self, event_json: &[u8]) -> Result<bool, EventError> {
        self.matches_for_event(event_json).map(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests;
