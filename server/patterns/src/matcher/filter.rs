//! A branch's [`Filter`]: hashes of its other exact values and prefixes, which reject
//! most candidates before verification.

use super::cond::Cond;
use super::hash::{exact_hash, prefix_hash};
use super::verify::{Verifier, NO_LEAF};
use crate::compile::ValuePattern;
use crate::scan::{EvVal, Scratch};

/// A necessary condition for a branch to match: for each condition other than the key
/// whose values are all exact (or all case-sensitive prefixes), the hashes of those
/// values. A candidate passes if each such field has a value whose hash (of its first
/// `len` bytes, for a prefix) is listed. Checking it reads only this tape and the event,
/// where full verification follows pointers to every condition and value.
///
/// Tape: a header word per condition (`field | kind << 32 | n << 40`), then `n` hashes
/// (exact) or `n` (length, hash) pairs (prefix); short tapes are stored inline.
pub(super) enum Filter {
    Inline(u8, [u64; FILTER_INLINE]),
    Heap(Box<[u64]>),
}

impl Default for Filter {
    fn default() -> Self {
        Filter::Inline(0, [0; FILTER_INLINE])
    }
}

/// Tape words stored inline in [`Hot`] (in its first cache line).
///
/// [`Hot`]: super::slots::Hot
const FILTER_INLINE: usize = 4;

const FILTER_EXACT: u64 = 0;
const FILTER_PREFIX: u64 = 1;
/// Conditions with more values than this are left to full verification.
const FILTER_VALUES_MAX: usize = 8;

impl Filter {
    fn words(&self) -> &[u64] {
        match self {
            Filter::Inline(n, w) => &w[..*n as usize],
            Filter::Heap(w) => w,
        }
    }

    pub(super) fn build(conds: &[&Cond]) -> Filter {
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
    pub(super) fn fields(&self) -> Vec<u32> {
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
    pub(super) fn passes(&self, v: &Verifier, input: &[u8], s: &Scratch) -> bool {
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
