//! Messages through SQS's API: ids, SQS's MD5 digests of bodies and
//! message attributes, and the checks of message attributes.

use base64::Engine as _;
use md5::{Digest, Md5};

use super::types::MessageAttributes;
use super::{SqsError, SqsResult};

/// The message id SQS shows for a stored message (UUID-shaped, from its row id).
pub(super) fn message_id(id: i64) -> String {
    let id = id as u64;
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        id >> 48,
        id & 0xffff_ffff_ffff
    )
}

pub(super) fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SQS's MD5 of message attributes: per attribute in name order, the name,
/// the data type and the value, each as a 4-byte big-endian length and
/// bytes, with a transport byte (1 text, 2 binary) before the value.
pub(super) fn md5_of_attributes(attrs: &MessageAttributes) -> String {
    fn push(buf: &mut Vec<u8>, b: &[u8]) {
        buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        buf.extend_from_slice(b);
    }
    let mut buf = Vec::new();
    for (name, v) in attrs {
        push(&mut buf, name.as_bytes());
        push(&mut buf, v.data_type.as_bytes());
        match (&v.string_value, &v.binary_value) {
            (Some(s), _) => {
                buf.push(1);
                push(&mut buf, s.as_bytes());
            }
            (None, Some(b)) => {
                buf.push(2);
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default();
                push(&mut buf, &raw);
            }
            (None, None) => {}
        }
    }
    md5_hex(&buf)
}

/// Whether `c` is a character SQS accepts in a message.
pub(super) fn is_message_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
}

/// Checks message attributes; returns their size in bytes (names, types, values).
pub(super) fn check_message_attributes(attrs: &MessageAttributes) -> SqsResult<usize> {
    if attrs.len() > 10 {
        return Err(SqsError::invalid_parameter(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attrs.len()
        )));
    }
    let mut size = 0;
    for (name, v) in attrs {
        let lower = name.to_ascii_lowercase();
        let name_ok = (1..=256).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.");
        if !name_ok {
            return Err(SqsError::invalid_parameter(format!(
                "Message (user) attribute name '{name}' is invalid."
            )));
        }
        let base = v.data_type.split('.').next().unwrap_or_default();
        if !matches!(base, "String" | "Number" | "Binary") {
            return Err(SqsError::invalid_parameter(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
            )));
        }
        if v.string_list_values.is_some() || v.binary_list_values.is_some() {
            return Err(SqsError::invalid_parameter(format!(
                "Message (user) attribute '{name}': list values are reserved for future use."
            )));
        }
        let value_len = match base {
            "Binary" => v
                .binary_value
                .as_deref()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| b.len())
                .filter(|n| *n > 0),
            _ => v.string_value.as_deref().map(str::len).filter(|n| *n > 0),
        };
        let Some(value_len) = value_len else {
            return Err(SqsError::invalid_parameter(format!(
                "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
            )));
        };
        if base == "Number"
            && v.string_value
                .as_deref()
                .is_some_and(|s| s.trim().parse::<f64>().is_err())
        {
            return Err(SqsError::invalid_parameter(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        size += name.len() + v.data_type.len() + value_len;
    }
    Ok(size)
}
