//! The vocabulary the matcher's files share: a compiled condition, and the key a branch
//! is found by (one condition, or a tuple of two or three conditions).

use crate::compile::ValuePattern;
use crate::index::CondId;

pub(super) struct Cond {
    pub(super) field: u32,
    /// Satisfied by the field being absent (`exists: false` in the value list).
    pub(super) absent_ok: bool,
    pub(super) values: Vec<ValuePattern>,
}

/// How a branch is found: by one condition in its field's index, or by the values of
/// two or three conditions together in a [`TupleIndex`].
///
/// [`TupleIndex`]: super::tuple::TupleIndex
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Key {
    Cond(CondId),
    Tuple(Tuple),
}

/// The conditions of a tuple key, ascending by field id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Tuple {
    pub(super) ids: [CondId; TUPLE_MAX],
    pub(super) len: u8,
}

/// Conditions in a tuple key at most.
pub(super) const TUPLE_MAX: usize = 3;

impl Tuple {
    pub(super) fn conds(&self) -> &[CondId] {
        &self.ids[..self.len as usize]
    }
}

/// The fields of a [`TupleIndex`], each with whether it is looked up by prefixes (unused
/// places are `(u32::MAX, false)`).
///
/// [`TupleIndex`]: super::tuple::TupleIndex
pub(super) type TupleShape = [(u32, bool); TUPLE_MAX];
