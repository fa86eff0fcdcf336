//! The one place core errors become JS errors. The message carries a machine-readable
//! prefix, `[samsa:<TYPE>:<code>:<retriable>] `, which `lib/errors.js` turns into the
//! kafkajs error class a Kafka user already handles.

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
