//! The one place core errors become JS errors, as data: each carries its kafkajs type
//! name, Kafka code and retriability beside its message, which `lib/errors.js` turns into
//! the kafkajs error class a Kafka user already handles.
//!
//! A thrown or rejected error is a JS `Error` whose message is the error's own, and whose
//! `cause` holds the fields (napi-rs builds errors for async calls off the JS thread, from a
//! status and two strings: the fields ride in the cause's message as JSON). An error that
//! is part of a result (one partition of a send, one topic of a CreateTopics) is an
//! [`ErrorJs`] object.

use napi_derive::napi;

use crate::error::Error;

/// A core error's fields, as JS reads them.
#[napi(object)]
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorJs {
    /// The kafkajs name of its type (`UNKNOWN_TOPIC_OR_PARTITION`), or samsa's own.
    pub samsa_type: String,
    /// Kafka's error code (-1 for samsa's own errors).
    pub code: i32,
    pub retriable: bool,
    pub message: String,
}

pub fn error_js(e: &Error) -> ErrorJs {
    ErrorJs { samsa_type: e.kind().to_string(), code: i32::from(e.code()), retriable: e.retriable(), message: e.to_string() }
}

pub fn to_js(e: Error) -> napi::Error {
    let data = error_js(&e);
    let fields = serde_json::to_string(&data).unwrap_or_default();
    let mut out = napi::Error::new(napi::Status::GenericFailure, data.message);
    out.set_cause(napi::Error::new(napi::Status::GenericFailure, fields));
    out
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
