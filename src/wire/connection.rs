//! One connection: frames in, frames out, one request at a time.
//!
//! A frame is a big-endian i32 size and that many bytes. The api key, version and
//! correlation id are read from the first 8 bytes here (the crate's header decoder fails
//! on keys it does not know). A frame that is oversized, truncated, malformed or not
//! whole within the request read timeout closes this connection with a logged reason and
//! changes nothing else; an unsupported ApiVersions version gets error 35 in the v0
//! format (KIP-511); any other unknown key or version closes the connection. A frame
//! costs the memory of what has arrived, taken from the listener's byte budget.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::limits::{ByteBudget, Held, Slot};
use super::{api, versions, Ctx};

/// Why an evicted connection closed.
const EVICTED: &str = "every connection slot is taken and this one has gone longest without a request";

/// What the handler of a request decided.
pub enum Reply {
    /// A response frame: its size, then its header and message.
    Frame(BytesMut),
    /// No response (a Produce with acks=0).
    Nothing,
    /// Close the connection, for this reason.
    Close(String),
}

/// The first allocation for a frame's body; it grows with what arrives.
const FIRST_CHUNK: usize = 16 * 1024;
/// The part of each frame read outside the listener's budget: a small request (a new
/// client's first ones, a heartbeat) never waits behind large ones.
const ALLOWANCE: usize = 64 * 1024;

/// Reads a frame's `len` bytes into memory that grows with what arrives (each step at
/// most doubling it, never past `len`), so a frame that declares megabytes and sends a
/// few bytes costs a few bytes. With a budget, a frame past [`ALLOWANCE`] takes the rest
/// of its declared size from it in one step, waiting for room while it holds nothing
/// else (so frames waiting for room never wait on each other); the bytes stay taken
/// while the returned [`Held`] lives.
pub(crate) async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, len: usize, budget: Option<&Arc<ByteBudget>>) -> std::io::Result<(Bytes, Option<Held>)> {
    let mut held = budget.map(Held::new);
    let mut body: Vec<u8> = Vec::new();
    while body.len() < len {
        if body.capacity() == body.len() {
            if body.len() == ALLOWANCE {
                if let (Some(budget), Some(held)) = (budget, held.as_mut()) {
                    budget.take(held, len - ALLOWANCE).await;
                }
            }
            let grow = (len - body.len()).min(body.len().max(FIRST_CHUNK));
            body.reserve_exact(grow);
        }
        let want = (len - body.len()).min(body.capacity() - body.len());
        if stream.read_buf(&mut (&mut body).limit(want)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((Bytes::from(body), held))
}

/// Why a connection closed, and whether that is worth a warning: a client that hangs up,
/// or one idle past the limit, is ordinary; a bad or stalled frame is not.
struct Closed {
    why: String,
    ordinary: bool,
}

impl Closed {
    fn ordinary(why: impl Into<String>) -> Self {
        Closed { why: why.into(), ordinary: true }
    }

    fn bad(why: impl Into<String>) -> Self {
        Closed { why: why.into(), ordinary: false }
    }

    /// A read or write (`what`) that failed: a client that hung up (a reset, a closed
    /// pipe, an end inside a frame) is ordinary; anything else is not.
    fn io_failed(what: &str, e: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        if matches!(e.kind(), ConnectionReset | BrokenPipe | ConnectionAborted | UnexpectedEof) {
            Closed::ordinary(format!("the client went away ({what}): {e}"))
        } else {
            Closed::bad(format!("{what} failed: {e}"))
        }
    }
}

/// Serves one connection, over TCP or a Unix domain socket (`peer` names it in logs),
/// while it holds `slot`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, peer: String, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>, slot: Slot) {
    let limits = &ctx.config;
    let standing = &slot.standing;
    // A connection must complete its first request within the frame deadline too: one
    // that opens and says nothing holds a slot no longer than one that stalls a frame.
    let mut first = true;
    let closed = loop {
        let mut size = [0u8; 4];
        let wait = if first { limits.request_read_timeout } else { limits.idle_timeout };
        let started = tokio::time::Instant::now();
        let read = tokio::select! {
            r = tokio::time::timeout(wait, stream.read_exact(&mut size)) => r,
            _ = stopped.changed() => break Closed::ordinary("the listener is stopping"),
            _ = standing.evicted.notified() => break Closed::bad(EVICTED),
        };
        match read {
            Err(_) if first => break Closed::bad(format!("no request within {:?} of connecting", limits.request_read_timeout)),
            Err(_) => break Closed::ordinary(format!("idle for {:?}", limits.idle_timeout)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Ok(Err(e)) => break Closed::io_failed("reading a frame's size", &e),
            Ok(Ok(_)) => {}
        }
        let len = i32::from_be_bytes(size);
        if len < 8 {
            break Closed::bad(format!("a frame of {len} bytes cannot hold a request header"));
        }
        if len as usize > limits.max_frame_bytes {
            break Closed::bad(format!("a frame of {len} bytes is over the limit of {}", limits.max_frame_bytes));
        }
        // The frame's deadline counts from its first byte (from connecting, for the first).
        let deadline = if first { started } else { tokio::time::Instant::now() } + limits.request_read_timeout;
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, read_frame(&mut stream, len as usize, Some(&ctx.frame_budget))) => r,
            _ = stopped.changed() => break Closed::ordinary("the listener is stopping"),
            _ = standing.evicted.notified() => break Closed::bad(EVICTED),
        };
        let (body, held) = match read {
            Err(_) => break Closed::bad(format!("a frame of {len} bytes was not complete within {:?}", limits.request_read_timeout)),
            Ok(Err(e)) => break Closed::io_failed("reading a frame", &e),
            Ok(Ok(b)) => b,
        };
        first = false;
        // Inside a request a connection is not evicted; one told to go just before is.
        standing.set_busy(true);
        if standing.evicted.notified().now_or_never().is_some() {
            break Closed::bad(EVICTED);
        }
        let key = i16::from_be_bytes([body[0], body[1]]);
        let version = i16::from_be_bytes([body[2], body[3]]);
        let correlation = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
        let reply = if key == kafka_protocol::messages::ApiKey::ApiVersions as i16 && !versions::supports(key, version) {
            Reply::Frame(api::unsupported_api_versions(correlation))
        } else if !versions::supports(key, version) {
            Reply::Close(format!("api key {key} version {version} is not supported"))
        } else {
            // A request runs to its end even if the listener stops meanwhile; a long
            // fetch is cut short by the stop instead.
            tokio::select! {
                r = api::dispatch(&ctx, key, version, body) => r,
                _ = stopped.changed() => Reply::Close("the listener is stopping".into()),
            }
        };
        drop(held);
        standing.set_busy(false);
        // A client that sends requests and never reads the answers is closed after the
        // idle timeout, or evicted, or stopped: never held forever.
        let written = match reply {
            Reply::Nothing => Ok(Ok(())),
            Reply::Close(why) => break Closed::bad(why),
            Reply::Frame(frame) => tokio::select! {
                r = tokio::time::timeout(limits.idle_timeout, stream.write_all(&frame)) => r,
                _ = stopped.changed() => break Closed::ordinary("the listener is stopping"),
                _ = standing.evicted.notified() => break Closed::bad(EVICTED),
            },
        };
        match written {
            Err(_) => break Closed::bad(format!("a response was not taken within {:?}", limits.idle_timeout)),
            Ok(Err(e)) => break Closed::io_failed("writing a response", &e),
            Ok(Ok(())) => standing.progressed(&ctx.slots),
        }
    };
    // A close the listener's own stop caused, or the client's own, is no news.
    if closed.ordinary || *stopped.borrow() {
        tracing::debug!(%peer, "closing a Kafka connection: {}", closed.why);
    } else {
        tracing::warn!(%peer, "closing a Kafka connection: {}", closed.why);
    }
}
