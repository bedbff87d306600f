//! Amazon EventBridge event patterns: an exact re-implementation of the pattern language
//! (validation with AWS's error reasons, AWS/event-ruler matching semantics) and a
//! compiled matcher for many rules.
//!
//! # Module map
//! * [`error`] — [`PatternError`] (`InvalidEventPatternException`), [`EventError`],
//!   [`TestEventPatternError`].
//! * `lexer` — Jackson-compatible JSON tokenizer for patterns (same token order and
//!   syntax-error texts as EventBridge's parser).
//! * `compile` — validates a pattern while tokenizing it and expands `$or` into branches.
//! * `number`, `wildcard`, `ip` — numeric comparability, wildcard parsing/linear-time
//!   matching, CIDR/IP handling.
//! * `scan` — zero-copy event scanner that decodes only the fields some rule names.
//! * `index` — per-field value indexes (hash maps, affix maps, interval tables).
//! * `tuple_table` — the branches keyed by value tuples, in one flat table.
//! * `matcher` — [`Matcher`]: many rules, added/removed at run time, matched at once
//!   (a folder: key choice, the per-event pass, the branch slots' layout, tuple keys).
//! * `pattern` — [`EventPattern`] (one pattern), [`test_event_pattern`], and the
//!   matcher's entry points that take patterns ([`Matcher::add_rule`],
//!   [`Matcher::add_pattern`]), so `pattern` builds on `matcher` and not the reverse.
//!
//! Architecture invariant: no web, UI or AWS SDK types; dependencies are `memchr` and
//! `thiserror` only.
//!
//! ```
//! use patterns::{EventPattern, Matcher};
//! let p = EventPattern::parse(r#"{"detail": {"status": ["retry"]}}"#).unwrap();
//! assert!(p.matches(r#"{"detail": {"status": "retry"}}"#).unwrap());
//!
//! let mut m = Matcher::new();
//! m.add_rule("archive", r#"{"detail": {"status": ["retry"]}, "replay-name": [{"exists": false}]}"#).unwrap();
//! assert_eq!(m.matches_for_event(br#"{"detail": {"status": "retry"}}"#).unwrap(), vec!["archive"]);
//! ```

mod compile;
pub mod error;
mod fxhash;
mod index;
mod ip;
mod lexer;
mod matcher;
mod number;
mod pattern;
mod prefetch;
mod scan;
mod tuple_table;
mod wildcard;

pub use compile::MAX_OR_BRANCHES;
pub use error::{EventError, PatternError, TestEventPatternError};
pub use matcher::Matcher;
pub use pattern::{
    test_event_pattern, EventPattern, API_MAX_PATTERN_LENGTH, DEFAULT_MAX_PATTERN_LENGTH,
    MANDATORY_ENVELOPE_FIELDS,
};
pub use scan::MAX_EVENT_DEPTH;
