//! The slots rules and branches live in, and each branch slot's [`Hot`] data: what a
//! candidate reads, in three cache lines (its rule and filter, then its check tape).

use super::check::Check;
use super::cond::Key;
use super::filter::Filter;
use crate::index::CondId;

pub(super) struct BranchSlot {
    pub(super) rule: u32,
    /// Condition ids, ascending.
    pub(super) conds: Vec<CondId>,
    /// `None` if every condition accepts absence.
    pub(super) key: Option<Key>,
}

/// What a candidate branch needs, three cache lines per branch slot, requested together:
/// in the first its rule and its [`Filter`], which rejects most candidates without
/// reading anything else; in the next two its [`Check`] tape for verifying those that
/// pass, if it fits (else the tape is one more allocation, requested once the filter
/// passed).
#[repr(C, align(64))]
pub(super) struct Hot {
    pub(super) rule: u32,
    /// Length of the tape in `tape`, or [`TAPE_ON_HEAP`] if it is in `spill`.
    pub(super) tape_len: u16,
    pub(super) filter: Filter,
    pub(super) spill: Box<[u8]>,
    tape: [u8; HOT_TAPE],
}

/// Bytes of a [`Check`] tape kept in [`Hot`]: its second and third cache lines.
const HOT_TAPE: usize = 128;
pub(super) const TAPE_ON_HEAP: u16 = u16::MAX;

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
    pub(super) fn tape(&self) -> &[u8] {
        if self.tape_len == TAPE_ON_HEAP {
            &self.spill
        } else {
            &self.tape[..self.tape_len as usize]
        }
    }

    pub(super) fn set_check(&mut self, check: Check) {
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

pub(super) struct RuleSlot<Id> {
    pub(super) id: Id,
    pub(super) branches: Vec<u32>,
}

pub(super) fn alloc<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, value: T) -> u32 {
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
