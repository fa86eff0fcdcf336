//! The one place core errors become JS errors. The message carries a machine-readable
//! prefix, `[samsa:<TYPE>:<code>:<retriable>] `, which `lib/errors.js` turns into the
//! kafkajs error class a Kafka user already handles.

use napi_derive::napi;

use crate::error::Error;

pub fn to_js(e: Error) -> napi::Error {
    napi::Error::from_reason(format!("[samsa:{}:{}:{}] {}", e.kind(), e.code(), u8::from(e.retriable()), e))
}

/// A malformed argument that JS validation should have caught.
pub fn invalid_arg(msg: impl std::fmt::Display) -> napi::Error {
    to_js(Error::InvalidRecord(msg.to_string()))
}

pub trait IntoJs<T> {
    fn js(self) -> napi::Result<T>;
}

impl<T> IntoJs<T> for crate::error::Result<T> {
    fn js(self) -> napi::Result<T> {
        self.map_err(to_js)
    }
}

/// One row of the table of Kafka's errors (see `crate::error::kafka_error`).
#[napi(object)]
pub struct KafkaErrorRow {
    pub name: String,
    pub code: i32,
    pub retriable: bool,
}

/// The table of Kafka's errors: `lib/errors.js` names and classes errors from it, so
/// errors made in JS and errors from the native side agree.
#[napi]
pub fn kafka_errors() -> Vec<KafkaErrorRow> {
    crate::error::kafka_errors()
        .iter()
        .map(|e| KafkaErrorRow { name: e.name.to_string(), code: i32::from(e.code), retriable: e.retriable })
        .collect()
}
