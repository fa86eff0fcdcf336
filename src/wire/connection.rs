//! One connection: frames in, frames out, one request at a time.
//!
//! A frame is a big-endian i32 size and that many bytes. The api key, version and
//! correlation id are read from the first 8 bytes here (the crate's header decoder fails
//! on keys it does not know). A frame that is oversized, truncated or malformed closes
//! this connection with a logged reason and changes nothing else; an unsupported
//! ApiVersions version gets error 35 in the v0 format (KIP-511); any other unknown key or
//! version closes the connection.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::{api, versions, Ctx};

/// What the handler of a request decided.
pub enum Reply {
    /// A response frame body (header and message).
    Frame(BytesMut),
    /// No response (a Produce with acks=0).
    Nothing,
    /// Close the connection, for this reason.
    Close(String),
}

/// Reads a frame's `len` bytes straight into fresh memory: zeroing a large frame first
/// (a produce of a thousand messages, a fetch, is over 100 KB) costs about as much as
/// reading it.
pub(crate) async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, len: usize) -> std::io::Result<Bytes> {
    let mut body = BytesMut::with_capacity(len);
    while body.len() < len {
        let want = len - body.len();
        if stream.read_buf(&mut (&mut body).limit(want)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body.freeze())
}

/// Serves one connection, over TCP or a Unix domain socket (`peer` names it in logs).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, peer: String, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>) {
    let reason = loop {
        let mut size = [0u8; 4];
        let read = tokio::select! {
            r = tokio::time::timeout(ctx.config.idle_timeout, stream.read_exact(&mut size)) => r,
            _ = stopped.changed() => break "the listener is stopping".to_string(),
        };
        match read {
            Err(_) => break format!("idle for {:?}", ctx.config.idle_timeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Ok(Err(e)) => break format!("read failed: {e}"),
            Ok(Ok(_)) => {}
        }
        let len = i32::from_be_bytes(size);
        if len < 8 {
            break format!("a frame of {len} bytes cannot hold a request header");
        }
        if len as usize > ctx.config.max_frame_bytes {
            break format!("a frame of {len} bytes is over the limit of {}", ctx.config.max_frame_bytes);
        }
        let body = match read_frame(&mut stream, len as usize).await {
            Ok(b) => b,
            Err(e) => break format!("the connection ended inside a frame: {e}"),
        };
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
        match reply {
            Reply::Nothing => {}
            Reply::Close(why) => break why,
            Reply::Frame(frame) => {
                let mut out = BytesMut::with_capacity(4 + frame.len());
                out.put_i32(frame.len() as i32);
                out.extend_from_slice(&frame);
                if let Err(e) = stream.write_all(&out).await {
                    break format!("write failed: {e}");
                }
            }
        }
    };
    // A close the listener's own stop caused is no news.
    if *stopped.borrow() {
        tracing::debug!(%peer, "closing a Kafka connection: {reason}");
    } else {
        tracing::warn!(%peer, "closing a Kafka connection: {reason}");
    }
}
