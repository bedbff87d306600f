//! Values of a `[parts.<name>]` table as serde reads them: each type
//! refuses the others with the reason the error gives (`must be a number
//! of seconds, got string`), and a TOML datetime is refused as a
//! `datetime` (read from the text, where serde would otherwise take it for
//! a string).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The key under which the TOML deserializer hands over a datetime.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A TOML value, reduced to what the part table's keys take.
enum Raw {
    Text(String),
    Integer(i64),
    Float(f64),
    /// Anything else, by the name errors give its type.
    Other(&'static str),
}

impl Raw {
    fn type_str(&self) -> &'static str {
        match self {
            Raw::Text(_) => "string",
            Raw::Integer(_) => "integer",
            Raw::Float(_) => "float",
            Raw::Other(kind) => kind,
        }
    }

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }

    fn refuse<E: de::Error>(&self, expected: &str) -> E {
        E::custom(format!("must be {expected}, got {}", self.type_str()))
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw::Other("boolean"))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Integer(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Other("integer"), Raw::Integer))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Other("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut kind = "table";
        if let Some(key) = map.next_key::<String>()? {
            if key == DATETIME_KEY {
                kind = "datetime";
            }
            map.next_value::<IgnoredAny>()?;
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Other(kind))
    }
}

/// An integer or a float, as a float; refused as not `expected` otherwise.
fn number<'de, D: Deserializer<'de>>(d: D, expected: &str) -> Result<f64, D::Error> {
    match Raw::read(d)? {
        Raw::Integer(i) => Ok(i as f64),
        Raw::Float(f) => Ok(f),
        other => Err(other.refuse(expected)),
    }
}

/// A number of seconds (integer or float); its range is checked on use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Secs(pub f64);

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d, "a number of seconds").map(Secs)
    }
}

/// A number (integer or float); its range is checked on use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d, "a number").map(Number)
    }
}

/// An integer; its range is checked on use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Integer(pub i64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::read(d)? {
            Raw::Integer(i) => Ok(Integer(i)),
            other => Err(other.refuse("an integer")),
        }
    }
}

/// A string (never a datetime).
#[derive(Debug, Clone)]
pub(super) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::read(d)? {
            Raw::Text(s) => Ok(Text(s)),
            other => Err(other.refuse("a string")),
        }
    }
}
