//! One Kafka-protocol connection to the data directory's owner, over its Unix socket: a
//! request goes out, its response comes back, one at a time (the owner answers in order).
//! A connection that fails is dropped and made again on the next call, from the owner
//! record as it is then, so a new owner is found without anything to configure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::OwnedMutexGuard;

use crate::error::{Error, Result};
use crate::wire::connection::read_frame;
use crate::wire::local;

/// Responses larger than this are refused (the owner never sends one: fetches are bounded).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

type Slot = Option<(UnixStream, i32)>;

pub struct Conn {
    dir: PathBuf,
    stream: Arc<tokio::sync::Mutex<Slot>>,
}

/// A call begun on the calling thread: the connection is held, and the request written as
/// far as the socket took it at once.
pub struct Begun {
    guard: OwnedMutexGuard<Slot>,
    correlation: i32,
    written: usize,
}

impl Conn {
    pub fn new(dir: &Path) -> Conn {
        Conn { dir: dir.to_path_buf(), stream: Arc::new(tokio::sync::Mutex::new(None)) }
    }

    /// Sends `req` at `version` and waits up to `timeout` for the response.
    pub async fn call<R: Request>(&self, req: &R, version: i16, timeout: Duration) -> Result<R::Response> {
        let mut frame = encode(req, version)?;
        self.call_frame::<R>(&mut frame, version, timeout).await
    }

    /// Sends a whole request frame (its correlation id is set here) and waits for the
    /// response to it.
    pub async fn call_frame<R: Request>(&self, frame: &mut [u8], version: i16, timeout: Duration) -> Result<R::Response> {
        let mut guard = Arc::clone(&self.stream).lock_owned().await;
        let mut fresh = false;
        if guard.is_none() {
            *guard = Some((connect(&self.dir).await?, 0));
            fresh = true;
        }
        // A connection kept from an owner that has since gone fails at its first write;
        // the request did not reach anyone, so it goes once more on a new connection (to
        // the next owner, if there is one).
        if !fresh {
            if let Some((stream, _)) = guard.as_mut() {
                // The owner never speaks unasked: anything readable now is its close.
                let mut probe = [0u8; 1];
                if !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                    *guard = Some((connect(&self.dir).await?, 0));
                }
            }
        }
        let correlation = next_correlation(&mut guard);
        set_correlation(frame, correlation);
        self.exchange::<R>(Begun { guard, correlation, written: 0 }, frame, version, timeout).await
    }

    /// Begins a call without waiting, from any thread: when the connection is open and
    /// free, the frame is written now, so the owner is at work on it while the caller
    /// schedules the wait for the answer ([`Conn::finish`], with the same frame). None:
    /// use [`Conn::call_frame`].
    pub fn begin(&self, frame: &mut [u8]) -> Option<Begun> {
        let Ok(mut guard) = Arc::clone(&self.stream).try_lock_owned() else { return None };
        if guard.is_none() {
            return None;
        }
        let correlation = next_correlation(&mut guard);
        set_correlation(frame, correlation);
        let mut written = 0;
        if let Some((stream, _)) = guard.as_ref() {
            while written < frame.len() {
                match stream.try_write(&frame[written..]) {
                    Ok(n) => written += n,
                    // The rest goes from the runtime; an error shows there too.
                    Err(_) => break,
                }
            }
        }
        Some(Begun { guard, correlation, written })
    }

    /// Writes what is left of a begun call and waits up to `timeout` for its answer.
    pub async fn finish<R: Request>(&self, begun: Begun, frame: &[u8], version: i16, timeout: Duration) -> Result<R::Response> {
        self.exchange::<R>(begun, frame, version, timeout).await
    }

    async fn exchange<R: Request>(&self, begun: Begun, frame: &[u8], version: i16, timeout: Duration) -> Result<R::Response> {
        let Begun { mut guard, correlation, written } = begun;
        let Some((stream, _)) = guard.as_mut() else { return Err(self.lost("it closed")) };
        let exchange = async {
            stream.write_all(&frame[written..]).await?;
            let mut size = [0u8; 4];
            stream.read_exact(&mut size).await?;
            let len = i32::from_be_bytes(size);
            if len < 4 || len as usize > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a response frame of {len} bytes")));
            }
            read_frame(stream, len as usize).await
        };
        let body = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                *guard = None;
                return Err(self.lost(&e.to_string()));
            }
            Err(_) => {
                *guard = None;
                return Err(Error::Connection(format!(
                    "the process that owns {} did not answer within {timeout:?}",
                    self.dir.display()
                )));
            }
        };
        match decode::<R>(body, version, correlation) {
            Ok(r) => Ok(r),
            Err(e) => {
                *guard = None;
                Err(e)
            }
        }
    }

    fn lost(&self, why: &str) -> Error {
        Error::Connection(format!(
            "the connection to the process that owns {} failed: {why}; retry once a process owns it",
            self.dir.display()
        ))
    }

    /// Drops the connection (the owner sees it close).
    pub async fn close(&self) {
        *self.stream.lock().await = None;
    }
}

fn next_correlation(slot: &mut Slot) -> i32 {
    match slot.as_mut() {
        Some((_, next)) => {
            let c = *next;
            *next = next.wrapping_add(1);
            c
        }
        None => 0,
    }
}

/// The correlation id of a frame: after its size (4 bytes), api key and version (2 + 2).
fn set_correlation(frame: &mut [u8], correlation: i32) {
    frame[8..12].copy_from_slice(&correlation.to_be_bytes());
}

/// A frame's size, its first 4 bytes, once the rest is written.
pub fn seal(frame: &mut [u8]) {
    let len = (frame.len() - 4) as i32;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
}

async fn connect(dir: &Path) -> Result<UnixStream> {
    let gone = || {
        Error::Connection(format!(
            "no process owns the data directory {} now: calls work again once a process opens it",
            dir.display()
        ))
    };
    let Some(record) = local::read_record(dir)? else { return Err(gone()) };
    match UnixStream::connect(&record.socket).await {
        Ok(s) => Ok(s),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => Err(Error::PermissionDenied(format!(
            "permission denied connecting to {} (the socket of the process that owns {}, pid {}): run as a user allowed to open that socket",
            record.socket.display(),
            dir.display(),
            record.pid
        ))),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => Err(gone()),
        Err(e) => Err(Error::Connection(format!("connecting to {}: {e}", record.socket.display()))),
    }
}

/// A request frame, its correlation id still to be set.
fn encode<R: Request>(req: &R, version: i16) -> Result<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let fail = |e: String| Error::InvalidRequest(format!("encoding a request (api {} v{version}): {e}", R::KEY));
    let size = req.compute_size(version).map_err(|e| fail(format!("{e:#}")))?;
    let mut out = Vec::with_capacity(4 + 64 + size);
    out.put_i32(0);
    header.encode(&mut out, R::header_version(version)).map_err(|e| fail(format!("{e:#}")))?;
    req.encode(&mut out, version).map_err(|e| fail(format!("{e:#}")))?;
    seal(&mut out);
    Ok(out)
}

/// The client id in every request this side sends.
pub const CLIENT_ID: &str = "samsa";

fn decode<R: Request>(mut body: Bytes, version: i16, correlation: i32) -> Result<R::Response> {
    let bad = |what: String| Error::Connection(format!("the owner's response to api {} v{version} is malformed: {what}", R::KEY));
    let header = ResponseHeader::decode(&mut body, <R::Response as HeaderVersion>::header_version(version)).map_err(|e| bad(format!("{e:#}")))?;
    if header.correlation_id != correlation {
        return Err(bad(format!("correlation id {} where {correlation} was expected", header.correlation_id)));
    }
    let resp = <R::Response as Decodable>::decode(&mut body, version).map_err(|e| bad(format!("{e:#}")))?;
    if body.has_remaining() {
        tracing::debug!(api = R::KEY, version, left = body.remaining(), "a response had bytes after its body");
    }
    Ok(resp)
}
