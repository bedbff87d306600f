//! JSON for the page's copy of a resource, with each struct written as an
//! array of its fields in declaration order instead of an object: the field
//! names are not repeated for every bar, row and point of a page (on the
//! 90-day timeline they were half of the hydration data). `serde_json`
//! reads such an array back into the struct (derived `Deserialize` accepts
//! a sequence), so the browser decodes it with the reader it already has.
//!
//! A struct that leaves a field out (`skip_serializing_if`) stays an object,
//! since positions would no longer line up; so does one written through a
//! map (`#[serde(flatten)]`), and one the browser reads by field name with
//! a reader of its own ([`BY_NAME`]). Everything else is written as
//! `serde_json` writes it.

use serde::ser::{self, Serialize};
use serde_json::value::Serializer as ValueSerializer;
use serde_json::{Error, Map, Value};

/// Structs the browser build reads by field name, with a reader that takes
/// only some of their fields, so they stay objects: the overview's card
/// reads a part's maintenance window through
/// `mediator_wire::maintenance::holding`.
const BY_NAME: &[&str] = &["MaintenanceWindow"];

/// `value` as positional JSON text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(&value.serialize(Positional)?)
}

/// Builds the [`Value`] `serde_json` would, but structs as arrays.
struct Positional;

type Result<T> = std::result::Result<T, Error>;

/// A sequence, tuple or tuple struct being written.
struct Seq(Vec<Value>);

/// A map being written (keys as `serde_json` writes them).
struct Object {
    map: Map<String, Value>,
    key: Option<String>,
}

/// A struct being written: its fields in order, and whether it must stay
/// an object (a field was left out, or it is read [`BY_NAME`]).
struct Struct {
    fields: Vec<(&'static str, Value)>,
    as_object: bool,
}

/// A variant with content: `{"Variant": content}`, as `serde_json` writes it.
struct Variant<T> {
    name: &'static str,
    content: T,
}

fn tagged(name: &str, content: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(name.to_owned(), content);
    Value::Object(map)
}

/// A map key as `serde_json` writes it: strings, numbers and booleans as
/// strings.
fn key_string(key: Value) -> Result<String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ser::Error::custom("a map key must be a string")),
    }
}

impl ser::Serializer for Positional {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Variant<Seq>;
    type SerializeMap = Object;
    type SerializeStruct = Struct;
    type SerializeStructVariant = Variant<Struct>;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        ValueSerializer.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<Value> {
        ValueSerializer.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Value> {
        ValueSerializer.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Value> {
        ValueSerializer.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        ValueSerializer.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        ValueSerializer.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value> {
        ValueSerializer.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Value> {
        ValueSerializer.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Value> {
        ValueSerializer.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        ValueSerializer.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        ValueSerializer.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        ValueSerializer.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        ValueSerializer.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        ValueSerializer.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        ValueSerializer.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        ValueSerializer.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(tagged(variant, value.serialize(Positional)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq> {
        Ok(Seq(Vec::with_capacity(len)))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Seq>> {
        Ok(Variant {
            name: variant,
            content: Seq(Vec::with_capacity(len)),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object> {
        Ok(Object {
            map: Map::new(),
            key: None,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Struct> {
        Ok(Struct {
            fields: Vec::with_capacity(len),
            as_object: BY_NAME.contains(&name),
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Struct>> {
        Ok(Variant {
            name: variant,
            content: self.serialize_struct(variant, len)?,
        })
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.0.push(value.serialize(Positional)?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Variant<Seq> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(&mut self.content, value)
    }
    fn end(self) -> Result<Value> {
        Ok(tagged(self.name, ser::SerializeSeq::end(self.content)?))
    }
}

impl ser::SerializeMap for Object {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key_string(key.serialize(ValueSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ser::Error::custom("a map value without its key"))?;
        self.map.insert(key, value.serialize(Positional)?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for Struct {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.fields.push((key, value.serialize(Positional)?));
        Ok(())
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<()> {
        self.as_object = true;
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(if self.as_object {
            Value::Object(
                self.fields
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        } else {
            Value::Array(self.fields.into_iter().map(|(_, v)| v).collect())
        })
    }
}

impl ser::SerializeStructVariant for Variant<Struct> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        ser::SerializeStruct::serialize_field(&mut self.content, key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<()> {
        ser::SerializeStruct::skip_field(&mut self.content, key)
    }
    fn end(self) -> Result<Value> {
        Ok(tagged(self.name, ser::SerializeStruct::end(self.content)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiError;
    use mediator_wire::{Bar, LatencySeries, Outage, OutageView, TimelineView};
    use serde::de::DeserializeOwned;
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    /// Written positionally, read back with the browser's reader.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> String {
        let text = to_string(value).unwrap();
        let back: T = serde_json::from_slice(text.as_bytes())
            .unwrap_or_else(|e| panic!("{text} does not read back: {e}"));
        assert_eq!(&back, value, "{text}");
        text
    }

    fn timeline() -> TimelineView {
        let bar = Bar {
            start: "2026-09-15T00:00:00Z".into(),
            end: "2026-09-16T00:00:00Z".into(),
            label: "2026-09-15".into(),
            down_secs: 1500,
            up_secs: 84_900,
            no_data_secs: 0,
            down_minutes: 25.0,
            outages: 1,
        };
        let outage = OutageView {
            outage: Outage {
                id: 39,
                part: "voucher".into(),
                start: "2026-09-15T00:29:54.325Z".into(),
                end: None,
                ongoing: true,
                duration_secs: 1500,
                retries_held: 7,
            },
            replay_start: "2026-09-15T00:28:54Z".into(),
            replay_end: "2026-09-15T00:55:54Z".into(),
            left_pct: 5.578_630_722_736_626,
            width_pct: 0.019,
        };
        TimelineView {
            part: "voucher".into(),
            granularity: "day".into(),
            start: "2026-09-10T00:00:00Z".into(),
            end: "2026-12-09T00:00:00Z".into(),
            bars: vec![bar.clone(), bar],
            outages: vec![outage],
            latency: LatencySeries {
                part: "voucher".into(),
                granularity: "day".into(),
                start: "2026-09-10T00:00:00Z".into(),
                end: "2026-12-09T00:00:00Z".into(),
                checks: 0,
                p50_ms: None,
                p95_ms: None,
                points: vec![],
            },
        }
    }

    #[test]
    fn structs_are_written_as_arrays_and_read_back() {
        let page: std::result::Result<Vec<TimelineView>, ApiError> = Ok(vec![timeline()]);
        let text = round_trip(&page);
        let plain = serde_json::to_string(&page).unwrap();
        // The field names are gone.
        assert!(
            !text.contains("down_secs") && !text.contains("retries_held"),
            "{text}"
        );
        assert!(text.contains("[\"2026-09-15T00:00:00Z\",\"2026-09-16T00:00:00Z\",\"2026-09-15\",1500,84900,0,25.0,1]"), "{text}");
        assert!(
            text.len() * 10 < plain.len() * 8,
            "{} vs {}",
            text.len(),
            plain.len()
        );
    }

    #[test]
    fn a_flattened_struct_stays_an_object() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Inner {
            x: i64,
        }
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Outer {
            #[serde(flatten)]
            inner: Inner,
            y: Vec<Inner>,
        }
        let text = round_trip(&Outer {
            inner: Inner { x: 1 },
            y: vec![Inner { x: 2 }],
        });
        assert_eq!(text, r#"{"x":1,"y":[[2]]}"#);
    }

    #[test]
    fn variants_maps_and_options_read_back() {
        round_trip(&std::result::Result::<(), ApiError>::Err(
            ApiError::Invalid {
                field: "at".into(),
                reason: "not a date".into(),
            },
        ));
        round_trip(&std::result::Result::<(), ApiError>::Err(
            ApiError::NotFound("x".into()),
        ));
        let mut map = BTreeMap::new();
        map.insert(3_u32, (Some("a".to_string()), None::<i64>, vec![1.5_f64]));
        round_trip(&map);
        round_trip(&serde_json::json!({"nested": {"a": [1, "b", null]}}));
    }

    #[test]
    fn the_cards_maintenance_window_is_read_by_name() {
        let window = mediator_wire::MaintenanceWindow {
            id: "mw-1".into(),
            part: "member".into(),
            state: "active".into(),
            start: "2026-12-08T01:00:00Z".into(),
            end: "2026-12-08T02:00:00Z".into(),
            ended_at: None,
            reason: "upgrade".into(),
            by: "olga".into(),
            created_at: "2026-12-08T00:59:00Z".into(),
            ended_by: None,
            end_reason: None,
            replay: None,
        };
        let text = round_trip(&Some(window.clone()));
        // What the browser build's card reads of it, by name.
        let held =
            mediator_wire::maintenance::holding(&mut serde_json::Deserializer::from_str(&text))
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .unwrap();
        assert_eq!(
            (held.id, held.end, held.reason, held.by),
            (window.id, window.end, window.reason, window.by)
        );
    }

    #[test]
    fn a_struct_that_leaves_a_field_out_stays_an_object() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Row {
            a: i64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            b: Option<String>,
            c: bool,
        }
        let text = round_trip(&vec![
            Row {
                a: 1,
                b: None,
                c: true,
            },
            Row {
                a: 2,
                b: Some("x".into()),
                c: false,
            },
        ]);
        assert_eq!(text, r#"[{"a":1,"c":true},[2,"x",false]]"#);
    }
}
