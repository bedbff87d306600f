//! The console's `Resource`s, serialised into the page as JSON and read
//! back on hydration through the same `serde_json` reader the server
//! functions' answers go through (`from_slice`). Leptos's default codec
//! reads the page's copy with `from_str`, a second reader type: every
//! deserializer a page needs would then be in the wasm bundle twice. The
//! server writes the page's copy with its structs as arrays
//! ([`positional`]), which that reader reads back as the structs.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};

#[cfg(feature = "ssr")]
pub mod positional;

/// JSON written by the server with its structs as arrays
/// ([`positional::to_string`]), read with `serde_json::from_slice`.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        // Only the server writes a page's resources; the browser build
        // keeps the plain writer it already has rather than a second one.
        #[cfg(feature = "ssr")]
        return positional::to_string(val);
        #[cfg(not(feature = "ssr"))]
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// `Resource::new` with the [`Json`] codec: refetched through `fetcher`
/// whenever `source` changes.
#[track_caller]
pub fn resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, Json>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// `OnceResource::new` with the [`Json`] codec.
#[track_caller]
pub fn once_resource<T>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> OnceResource<T, Json>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    OnceResource::new_with_options(fut, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_back() {
        let v: Result<Vec<String>, String> = Ok(vec!["a\"b".into(), "é".into()]);
        let s = Json::encode(&v).unwrap();
        let back: Result<Vec<String>, String> = Json::decode(&s).unwrap();
        assert_eq!(back, v);
    }
}
