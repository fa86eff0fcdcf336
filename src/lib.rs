//! samsa: an embedded, Kafka-compatible message broker.
//!
//! The core (`broker`, `log`) never imports napi; `binding` is the only module that does.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod alloc;
pub mod broker;
pub mod clock;
pub mod durability;
pub mod error;
pub mod fsutil;
pub mod group;
pub mod log;
pub mod remote;
pub mod txn;
pub mod wire;

// Under `cargo test --features node` nothing calls the exports: Node does.
#[cfg(feature = "node")]
#[cfg_attr(test, allow(dead_code))]
mod binding;

pub use error::{Error, Result};

/// See `alloc.rs`: a request that claims billions of elements must not abort the process.
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;
