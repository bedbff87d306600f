//! The branches keyed by value tuples, for every tuple index at once: one flat
//! open-addressing table of 16-byte slots (tuple key, tuple index, branch), so that an
//! event's lookups in all tuple indexes can be requested from memory together and then
//! read, each reading one cache line. With thousands of rules the table is rarely in
//! cache, and a lookup in a general hash map reads two lines one after the other (its
//! control bytes, then the entry).
//!
//! Keys are already hashes (see `TUPLE_SEED` in the matcher), so they place themselves;
//! a key shared by several branches points to a list. Removal shifts the following
//! entries back (no tombstones), so lookups stay short however many rules come and go.
//!
//! Most of an event's lookups find nothing (every tuple index is looked up for every
//! event carrying its fields, and only a few hold the event's values), so a small
//! presence filter ([`TupleTable::may_hold`]: a blocked Bloom filter of two bits per key,
//! one bit array word per key, eight bits per slot) answers first: at an eighth of the
//! table's size it stays in cache, and a lookup it rules out reads no slot. Removals
//! leave their bits set (a stale bit only costs a lookup) until stale keys reach half the
//! live ones, when the filter is rebuilt from the slots.

/// One slot: `key` 0 is empty; `val` is a branch, or `LIST | i` for `lists[i]`.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    index: u32,
    val: u32,
}

const _: () = assert!(
    std::mem::size_of::<Slot>() == 16,
    "four slots per cache line"
);

const EMPTY: u64 = 0;
const LIST: u32 = 1 << 31;

/// Stored in place of a key equal to [`EMPTY`] (a collision only adds candidates).
const ZERO_KEY: u64 = 0x9E37_79B9_7F4A_7C15;

/// Slots in a table that is not empty, at least.
const MIN_SLOTS: usize = 16;

#[derive(Default)]
pub(crate) struct TupleTable {
    /// A power of two long (or empty), at most half used.
    slots: Box<[Slot]>,
    used: usize,
    /// Branch lists of keys named by several branches (a multiset: a branch with
    /// two value combinations of equal hash is listed twice), and free list numbers.
    lists: Vec<Vec<u32>>,
    free_lists: Vec<u32>,
    /// Keys per tuple index.
    per_index: Vec<usize>,
    /// The presence filter: `slots.len() / 8` words (or empty).
    bloom: Box<[u64]>,
    /// Keys removed since the filter was last rebuilt.
    stale: usize,
}

#[inline]
fn norm(key: u64) -> u64 {
    if key == EMPTY {
        ZERO_KEY
    } else {
        key
    }
}

/// The presence filter's word and two-bit mask for a (normalised) key of an index, with
/// `words` a power of two.
#[inline]
fn bloom_bits(index: u32, key: u64, words: usize) -> (usize, u64) {
    let h = (key ^ u64::from(index).wrapping_mul(0xD6E8_FEB8_6659_FD93))
        .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let word = (h >> 32) as usize & (words - 1);
    (word, 1u64 << (h & 63) | 1u64 << ((h >> 6) & 63))
}

impl TupleTable {
    /// `false` if tuple index `index` certainly holds no `key` (one cached word read).
    #[inline]
    pub(crate) fn may_hold(&self, index: u32, key: u64) -> bool {
        if self.bloom.is_empty() {
            return false;
        }
        let (w, bits) = bloom_bits(index, norm(key), self.bloom.len());
        self.bloom[w] & bits == bits
    }

    fn bloom_add(&mut self, index: u32, key: u64) {
        let (w, bits) = bloom_bits(index, key, self.bloom.len());
        self.bloom[w] |= bits;
    }

    /// Rebuild the presence filter from the slots (after growing, or once removals left
    /// many stale bits).
    fn rebuild_bloom(&mut self) {
        let mut bloom = vec![0u64; self.slots.len() / 8].into_boxed_slice();
        for s in self.slots.iter().filter(|s| s.key != EMPTY) {
            let (w, bits) = bloom_bits(s.index, s.key, bloom.len());
            bloom[w] |= bits;
        }
        self.bloom = bloom;
        self.stale = 0;
    }

    /// Home slot of a (normalised) key: its high bits, which the Fx multiply mixes best.
    #[inline]
    fn home(&self, key: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        ((key.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> (64 - bits)) as usize
    }

    /// Does tuple index `index` hold any key?
    #[inline]
    pub(crate) fn has_index(&self, index: u32) -> bool {
        self.per_index.get(index as usize).is_some_and(|&n| n > 0)
    }

    /// Ask the CPU to start loading the slot where a lookup of `key` begins.
    #[inline]
    pub(crate) fn prefetch(&self, key: u64) {
        if !self.slots.is_empty() {
            crate::prefetch::prefetch(&self.slots[self.home(norm(key))]);
        }
    }

    #[inline]
    fn find(&self, index: u32, key: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.key == EMPTY {
                return None;
            }
            if s.key == key && s.index == index {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Append the branches under `key` in tuple index `index` to `out`.
    #[inline]
    pub(crate) fn get(&self, index: u32, key: u64, out: &mut Vec<u32>) {
        if let Some(i) = self.find(index, norm(key)) {
            self.push_val(self.slots[i].val, out);
        }
    }

    #[inline]
    fn push_val(&self, val: u32, out: &mut Vec<u32>) {
        if val & LIST == 0 {
            out.push(val);
        } else {
            out.extend_from_slice(&self.lists[(val & !LIST) as usize]);
        }
    }

    /// Append every branch of tuple index `index` to `out` (reads the whole table).
    pub(crate) fn extend_index(&self, index: u32, out: &mut Vec<u32>) {
        for s in self.slots.iter() {
            if s.key != EMPTY && s.index == index {
                self.push_val(s.val, out);
            }
        }
    }

    /// Add branch `b` under `key` in tuple index `index`.
    pub(crate) fn insert(&mut self, index: u32, key: u64, b: u32) {
        assert!(b < LIST, "branch ids fit in 31 bits");
        let key = norm(key);
        if let Some(i) = self.find(index, key) {
            let val = self.slots[i].val;
            if val & LIST != 0 {
                self.lists[(val & !LIST) as usize].push(b);
            } else {
                let list = match self.free_lists.pop() {
                    Some(l) => {
                        self.lists[l as usize] = vec![val, b];
                        l
                    }
                    None => {
                        self.lists.push(vec![val, b]);
                        (self.lists.len() - 1) as u32
                    }
                };
                self.slots[i].val = LIST | list;
            }
            return;
        }
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(Slot { key, index, val: b });
        self.bloom_add(index, key);
        self.used += 1;
        if self.per_index.len() <= index as usize {
            self.per_index.resize(index as usize + 1, 0);
        }
        self.per_index[index as usize] += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(slot.key);
        while self.slots[i].key != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n].into());
        for s in old.iter().filter(|s| s.key != EMPTY) {
            self.place(*s);
        }
        self.rebuild_bloom();
    }

    /// Remove one listing of branch `b` under `key` in tuple index `index`.
    pub(crate) fn remove(&mut self, index: u32, key: u64, b: u32) {
        let Some(i) = self.find(index, norm(key)) else {
            return;
        };
        let val = self.slots[i].val;
        if val & LIST != 0 {
            let l = (val & !LIST) as usize;
            let list = &mut self.lists[l];
            if let Some(at) = list.iter().position(|&x| x == b) {
                list.swap_remove(at);
            }
            if list.len() == 1 {
                self.slots[i].val = list[0];
                self.lists[l] = Vec::new();
                self.free_lists.push(l as u32);
            }
            return;
        }
        if val != b {
            return;
        }
        self.used -= 1;
        self.per_index[index as usize] -= 1;
        // Backward-shift deletion: move later entries of the run into the hole unless
        // their home lies cyclically after the hole.
        let mask = self.slots.len() - 1;
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.key == EMPTY {
                break;
            }
            let h = self.home(s.key);
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.stale += 1;
        if self.stale > self.used / 2 + 8 {
            self.rebuild_bloom();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_map_through_inserts_and_removals() {
        let mut t = TupleTable::default();
        let mut want: HashMap<(u32, u64), Vec<u32>> = HashMap::new();
        let mut x = 0x1234_5678_9ABC_DEF1u64;
        let mut rnd = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for step in 0..20_000u32 {
            // Few distinct keys (shared lists, long runs) including 0, a few indexes.
            let key = (rnd() % 600).wrapping_mul(0x0100_0000_0000_0001);
            let index = (rnd() % 3) as u32;
            let b = (rnd() % 50) as u32;
            let e = want.entry((index, key)).or_default();
            if step % 3 != 0 || e.is_empty() {
                t.insert(index, key, b);
                e.push(b);
            } else {
                let b = e[(rnd() % e.len() as u64) as usize];
                t.remove(index, key, b);
                let at = e.iter().position(|&y| y == b).unwrap();
                e.swap_remove(at);
            }
            if step % 997 == 0 || step > 19_900 {
                for (&(index, key), bs) in &want {
                    assert!(bs.is_empty() || t.may_hold(index, key), "filter lost a key");
                    let mut got = Vec::new();
                    t.get(index, key, &mut got);
                    got.sort_unstable();
                    let mut bs = bs.clone();
                    bs.sort_unstable();
                    assert_eq!(got, bs, "index {index} key {key}");
                }
                for index in 0..3 {
                    let mut got = Vec::new();
                    t.extend_index(index, &mut got);
                    let n: usize = want
                        .iter()
                        .filter(|((i, _), _)| *i == index)
                        .map(|(_, v)| v.len())
                        .sum();
                    assert_eq!(got.len(), n);
                    assert_eq!(t.has_index(index), n > 0);
                }
            }
        }
    }

    #[test]
    fn the_presence_filter_rules_out_most_absent_keys_through_removals() {
        let mut t = TupleTable::default();
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
        let absent_held = |t: &TupleTable| {
            (1_000_000..1_010_000)
                .filter(|&i| t.may_hold(0, key(i)))
                .count()
        };
        for i in 0..20_000 {
            t.insert(0, key(i), i as u32);
        }
        // No false negative, few false positives (two bits per key, eight per slot).
        assert!((0..20_000).all(|i| t.may_hold(0, key(i))));
        assert!(!t.may_hold(1, key(5)) || !t.may_hold(1, key(6)));
        let full = absent_held(&t);
        assert!(full < 500, "{full} of 10,000 absent keys pass");
        // Removing most keys rebuilds the filter: their bits do not linger.
        for i in 0..19_000 {
            t.remove(0, key(i), i as u32);
        }
        assert!((19_000..20_000).all(|i| t.may_hold(0, key(i))));
        let removed_held = (0..19_000).filter(|&i| t.may_hold(0, key(i))).count();
        assert!(
            removed_held < 1_000,
            "{removed_held} removed keys still pass"
        );
    }
}
