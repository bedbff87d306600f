//! A branch's [`Check`] tape: its conditions laid out in one allocation for verifying a
//! candidate, and the inline string and range tests read from it.

use super::cond::Cond;
use crate::compile::{Range, ValuePattern};
use crate::index::CondId;

/// A branch's conditions laid out in one allocation for verifying a candidate, so that
/// verification reads one or two cache lines instead of following pointers from the
/// branch to each condition, its value list and each string (with thousands of rules,
/// each a likely cache miss). The common string conditions carry their strings inline:
/// exact (non-IP) strings and prefixes, compared byte for byte, and `anything-but` a list
/// of strings — exactly what [`eval`] does for them; any other condition is referred to
/// by id and evaluated as usual. Those come first: they are the ones a candidate that
/// passed its [`Filter`] most often fails.
///
/// Numeric ranges and `exists: true` are inline too (a candidate of such a rule would
/// otherwise read the condition, then its value list, one after the other).
///
/// Tape, per condition: field (u32), kind (u8), then for [`CHECK_STRS`] and
/// [`CHECK_NOT_STRS`] the strings' total encoded length (u16) and each string as its
/// length (u16, the top bit set for a prefix) and its bytes (a condition whose strings do
/// not fit these lengths is checked by id); for [`CHECK_NUMS`] the number of ranges
/// (u16) and each range as its bounds (two f64) and whether each is open (u8:
/// bit 0 the lower, bit 1 the upper); nothing more for [`CHECK_ANY`]; for
/// [`CHECK_COND`] the condition id (u32). Integers and floats are little-endian.
///
/// [`eval`]: crate::index::eval
/// [`Filter`]: super::filter::Filter
#[derive(Default)]
pub(super) struct Check(pub(super) Box<[u8]>);

/// Satisfied by a string value equal to one of the strings, or starting with one of the
/// prefixes.
pub(super) const CHECK_STRS: u8 = 0;
/// Satisfied by any value but a string equal to one of the strings (`anything-but`).
const CHECK_NOT_STRS: u8 = 1;
/// Evaluate condition `id` (see [`Matcher::satisfy_cond`]).
///
/// [`Matcher::satisfy_cond`]: super::Matcher::satisfy_cond
pub(super) const CHECK_COND: u8 = 2;
/// Satisfied by a number in one of the ranges (`numeric`, as [`Range::contains`]).
pub(super) const CHECK_NUMS: u8 = 3;
/// Satisfied by any value (`exists: true`).
pub(super) const CHECK_ANY: u8 = 4;

/// Bytes of one range on a [`Check`] tape.
pub(super) const RANGE_BYTES: usize = 17;

const STR_EXACT: u8 = 0;
const STR_PREFIX: u8 = 1;
/// Set in a string's length on a [`Check`] tape for a prefix.
const STR_PREFIX_BIT: u16 = 1 << 15;

#[inline(always)]
pub(super) fn read_u32(tape: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(tape[at..at + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
pub(super) fn read_u16(tape: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(tape[at..at + 2].try_into().expect("2 bytes"))
}

/// How a condition is checked from a [`Check`] tape.
enum Inline<'a> {
    /// [`CHECK_STRS`] or [`CHECK_NOT_STRS`], with (tag, string) pairs.
    Strs(u8, Vec<(u8, &'a str)>),
    Nums(Vec<&'a Range>),
    Any,
    /// By id ([`CHECK_COND`]).
    Cond,
}

impl Check {
    pub(super) fn build(conds: &[(CondId, &Cond)]) -> Check {
        use ValuePattern as P;
        // The strings a condition is checked against inline, and the kind of check.
        fn inline(cond: &Cond) -> Inline<'_> {
            if let [P::AnythingBut(crate::compile::AnythingBut::Strings(list))] = &cond.values[..] {
                return Inline::Strs(
                    CHECK_NOT_STRS,
                    list.iter().map(|s| (STR_EXACT, s.as_str())).collect(),
                );
            }
            if let [P::Exists(true)] = &cond.values[..] {
                return Inline::Any;
            }
            let ranges = cond
                .values
                .iter()
                .map(|v| match v {
                    P::Numeric(r) => Some(r),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            if let Some(ranges) = ranges {
                return Inline::Nums(ranges);
            }
            let strs = cond
                .values
                .iter()
                .map(|v| match v {
                    P::ExactStr(s) if !crate::ip::looks_like_ip(s) => Some((STR_EXACT, s.as_str())),
                    P::Prefix(p) => Some((STR_PREFIX, p.as_str())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>();
            match strs {
                Some(strs) => Inline::Strs(CHECK_STRS, strs),
                None => Inline::Cond,
            }
        }
        // Inline strings must fit the tape's lengths (u16, a string's without its top bit).
        fn fits(checked: Inline<'_>) -> Inline<'_> {
            match checked {
                Inline::Strs(_, ref strs)
                    if strs
                        .iter()
                        .any(|(_, s)| s.len() >= usize::from(STR_PREFIX_BIT))
                        || strs.iter().map(|(_, s)| 2 + s.len()).sum::<usize>()
                            > usize::from(u16::MAX) =>
                {
                    Inline::Cond
                }
                Inline::Nums(ref r) if r.len() > usize::from(u16::MAX) => Inline::Cond,
                other => other,
            }
        }
        let mut tape = Vec::new();
        for strs_pass in [false, true] {
            for &(c, cond) in conds {
                let checked = fits(inline(cond));
                if matches!(checked, Inline::Strs(..)) != strs_pass {
                    continue;
                }
                tape.extend_from_slice(&cond.field.to_le_bytes());
                match checked {
                    Inline::Strs(kind, strs) => {
                        tape.push(kind);
                        let at = tape.len();
                        tape.extend_from_slice(&0u16.to_le_bytes());
                        for (tag, s) in strs {
                            let bit = if tag == STR_PREFIX { STR_PREFIX_BIT } else { 0 };
                            tape.extend_from_slice(&(s.len() as u16 | bit).to_le_bytes());
                            tape.extend_from_slice(s.as_bytes());
                        }
                        let len = (tape.len() - at - 2) as u16;
                        tape[at..at + 2].copy_from_slice(&len.to_le_bytes());
                    }
                    Inline::Nums(ranges) => {
                        tape.push(CHECK_NUMS);
                        tape.extend_from_slice(&(ranges.len() as u16).to_le_bytes());
                        for r in ranges {
                            tape.extend_from_slice(&r.lo.to_le_bytes());
                            tape.extend_from_slice(&r.hi.to_le_bytes());
                            tape.push(u8::from(r.lo_open) | u8::from(r.hi_open) << 1);
                        }
                    }
                    Inline::Any => tape.push(CHECK_ANY),
                    Inline::Cond => {
                        tape.push(CHECK_COND);
                        tape.extend_from_slice(&c.to_le_bytes());
                    }
                }
            }
        }
        Check(tape.into_boxed_slice())
    }
}

/// Is `n` in one of the ranges encoded in `ranges` (see [`Check`])?
#[inline]
pub(super) fn ranges_contain(ranges: &[u8], n: f64) -> bool {
    ranges.chunks_exact(RANGE_BYTES).any(|r| {
        let lo = f64::from_le_bytes(r[0..8].try_into().expect("8 bytes"));
        let hi = f64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        Range {
            lo,
            lo_open: r[16] & 1 != 0,
            hi,
            hi_open: r[16] & 2 != 0,
        }
        .contains(n)
    })
}

/// Does `x` equal one of the exact strings, or start with one of the prefixes, encoded in
/// `strs` (see [`Check`])?
#[inline]
pub(super) fn strs_match(strs: &[u8], x: &[u8]) -> bool {
    let mut i = 0;
    while i < strs.len() {
        let word = read_u16(strs, i);
        let len = usize::from(word & !STR_PREFIX_BIT);
        i += 2;
        let s = &strs[i..i + len];
        i += len;
        let hit = if word & STR_PREFIX_BIT == 0 {
            x == s
        } else {
            x.starts_with(s)
        };
        if hit {
            return true;
        }
    }
    false
}
