//! One Kafka-protocol connection to the data directory's owner, over its Unix socket.
//! Requests are pipelined: a call writes its frame whole and in turn, and waits for its
//! own answer while later calls write theirs; a reader task hands each response to the
//! call that waits first (the owner answers a connection's requests in order). A producer
//! so has its next Produce at the owner while the one before is answered.
//! A connection that fails is dropped and made again on the next call, from the owner
//! record as it is then, so a new owner is found without anything to configure.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, Notify, OwnedMutexGuard};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::wire::connection::read_frame;
use crate::wire::local;

/// Responses larger than this are refused (the owner never sends one: fetches are bounded).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// A response body, or why the connection ended before it came.
type Answer = std::result::Result<Bytes, String>;

/// The calls waiting for an answer on one connection, oldest first, and whether the
/// connection has ended (then no call may wait on it any more).
#[derive(Default)]
struct Waiting {
    calls: VecDeque<(i32, oneshot::Sender<Answer>)>,
    ended: Option<String>,
}

/// Ends a connection for its calls: those waiting learn `why`, no call may wait on it any
/// more, and the next call connects again. Its reader may still be at work.
fn end(waiting: &Mutex<Waiting>, why: &str) {
    let mut w = lock(waiting);
    for (_, call) in w.calls.drain(..) {
        let _ = call.send(Err(why.to_string()));
    }
    w.ended.get_or_insert_with(|| why.to_string());
}

/// An open connection: its write half (written under the [`Conn`]'s lock, a whole frame at
/// a time) and the reader task that answers the waiting calls.
struct Link {
    /// Which connection of this [`Conn`] it is (from 1).
    id: u64,
    write: OwnedWriteHalf,
    next_correlation: i32,
    waiting: Arc<Mutex<Waiting>>,
    /// None once the link is retired: its reader then runs on to the owner's close.
    reader: Option<JoinHandle<()>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        // Calls still waiting learn it from their dropped senders.
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

impl Link {
    fn ended(&self) -> bool {
        lock(&self.waiting).ended.is_some()
    }

    /// Takes a link that failed to write out of use without losing the answers already on
    /// their way to earlier calls: its write half closes (so the owner, having answered
    /// what it read, closes too) and its reader hands those answers over until then.
    fn retire(mut self) {
        drop(self.reader.take());
    }

    /// Registers a call (its frame is written next, before any other).
    fn enqueue(&mut self, frame: &mut [u8]) -> Result<(i32, oneshot::Receiver<Answer>)> {
        let correlation = self.next_correlation;
        self.next_correlation = correlation.wrapping_add(1);
        set_correlation(frame, correlation);
        let (tx, rx) = oneshot::channel();
        let mut w = lock(&self.waiting);
        if let Some(why) = &w.ended {
            return Err(Error::Connection(why.clone()));
        }
        w.calls.push_back((correlation, tx));
        Ok((correlation, rx))
    }
}

type Slot = Option<Link>;

pub struct Conn {
    dir: PathBuf,
    link: Arc<tokio::sync::Mutex<Slot>>,
    links_made: AtomicU64,
}

/// Asked, under the connection's lock, just before a call's frame is written on the
/// connection with this id: may it go now? (See [`Conn::call_frame_in_turn`].)
pub type MayWrite<'a> = &'a (dyn Fn(u64) -> bool + Send + Sync);

/// Every call may go at once.
fn any_time(_: u64) -> bool {
    true
}

/// A call begun on the calling thread: its frame written as far as the socket took it at
/// once. While some of it is left to write, the connection stays held.
pub struct Begun {
    guard: Option<OwnedMutexGuard<Slot>>,
    /// When its writing began: its timeout counts from then.
    began: std::time::Instant,
    correlation: i32,
    written: usize,
    answer: oneshot::Receiver<Answer>,
    waiting: Arc<Mutex<Waiting>>,
}

impl Conn {
    pub fn new(dir: &Path) -> Conn {
        Conn { dir: dir.to_path_buf(), link: Arc::new(tokio::sync::Mutex::new(None)), links_made: AtomicU64::new(0) }
    }

    /// Sends `req` at the version samsa's client sends of it (`versions::CLIENT`) and waits
    /// up to `timeout` for the response.
    pub async fn call<R: Request>(&self, req: &R, timeout: Duration) -> Result<R::Response> {
        self.call_as(req, timeout, CLIENT_ID).await
    }

    /// As [`Conn::call`], with the application's client id in the request's header (the
    /// owner reports it for the group member the request is for).
    pub async fn call_as<R: Request>(&self, req: &R, timeout: Duration, client_id: &str) -> Result<R::Response> {
        let version = client_version::<R>()?;
        let mut frame = encode(req, version, client_id)?;
        self.call_frame::<R>(&mut frame, version, timeout).await
    }

    /// Sends a whole request frame (its correlation id is set here) and waits for the
    /// response to it.
    pub async fn call_frame<R: Request>(&self, frame: &mut [u8], version: i16, timeout: Duration) -> Result<R::Response> {
        self.call_frame_in_turn::<R>(frame, &any_time, None, version, timeout).await
    }

    /// As [`Conn::call_frame`], writing the frame only once `may_write` allows it on the
    /// connection then open: until then the call waits for `changed` (or a few ms) and asks
    /// again. Calls that must reach the owner in the order they were made, across lost
    /// connections, keep that order this way.
    pub async fn call_frame_in_turn<R: Request>(
        &self,
        frame: &mut [u8],
        may_write: MayWrite<'_>,
        changed: Option<&Notify>,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        // A connection kept from an owner that has since gone is found ended, or fails at
        // the write: this frame did not reach anyone, so it goes once more on a new
        // connection (to the next owner, if there is one).
        let mut fresh = false;
        loop {
            let notified = changed.map(Notify::notified);
            tokio::pin!(notified);
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let mut guard = Arc::clone(&self.link).lock_owned().await;
            let link = match guard.as_mut() {
                Some(link) if !link.ended() => link,
                _ => {
                    fresh = true;
                    guard.insert(self.connect(timeout).await?)
                }
            };
            if !may_write(link.id) {
                drop(guard);
                let pause = Duration::from_millis(5);
                match notified.as_pin_mut() {
                    Some(n) => drop(tokio::time::timeout(pause, n).await),
                    None => tokio::time::sleep(pause).await,
                }
                continue;
            }
            let (correlation, answer) = link.enqueue(frame)?;
            let waiting = Arc::clone(&link.waiting);
            // The timeout covers writing and answering together, from when the request
            // goes (as kafkajs's requestTimeout counts from when it is sent).
            let deadline = Instant::now() + timeout;
            match self.write(&mut guard, frame, deadline, timeout).await {
                Ok(()) => {
                    drop(guard);
                    return self.answer::<R>(correlation, answer, &waiting, version, deadline, timeout).await;
                }
                // A timed-out write had its whole requestTimeout: not another on a new
                // connection.
                Err(e) if fresh || matches!(e, Error::RequestTimeout(_)) => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// Begins a call without waiting, from any thread: when the connection is open and
    /// free and `may_write` allows it, the frame is written now, so the owner is at work on
    /// it while the caller schedules the wait for the answer ([`Conn::finish`], with the
    /// same frame). None: use [`Conn::call_frame_in_turn`].
    pub fn begin(&self, frame: &mut [u8], may_write: MayWrite<'_>) -> Option<Begun> {
        let Ok(mut guard) = Arc::clone(&self.link).try_lock_owned() else { return None };
        let link = guard.as_mut().filter(|l| !l.ended())?;
        if !may_write(link.id) {
            return None;
        }
        let (correlation, answer) = link.enqueue(frame).ok()?;
        let began = std::time::Instant::now();
        let mut written = 0;
        while written < frame.len() {
            match link.write.try_write(&frame[written..]) {
                Ok(n) => written += n,
                // The rest goes from the runtime; an error shows there too.
                Err(_) => break,
            }
        }
        let waiting = Arc::clone(&link.waiting);
        let guard = (written < frame.len()).then_some(guard);
        Some(Begun { guard, began, correlation, written, answer, waiting })
    }

    /// Writes what is left of a begun call and waits for its answer, both within
    /// `timeout` of its beginning.
    pub async fn finish<R: Request>(&self, begun: Begun, frame: &[u8], version: i16, timeout: Duration) -> Result<R::Response> {
        let Begun { guard, began, correlation, written, answer, waiting } = begun;
        let deadline = Instant::from_std(began) + timeout;
        if let Some(mut guard) = guard {
            self.write(&mut guard, &frame[written..], deadline, timeout).await?;
        }
        self.answer::<R>(correlation, answer, &waiting, version, deadline, timeout).await
    }

    /// Writes (the rest of) a frame on the link held, by `deadline` (`timeout` after the
    /// call began). A link that fails to write is retired (see [`Link::retire`]); one that
    /// has not taken the frame by then (the owner is alive but stuck) is ended for its
    /// calls too, and the call fails as timed out.
    async fn write(&self, guard: &mut OwnedMutexGuard<Slot>, bytes: &[u8], deadline: Instant, timeout: Duration) -> Result<()> {
        let Some(link) = guard.as_mut() else { return Err(self.lost("it closed")) };
        let error = match tokio::time::timeout_at(deadline, link.write.write_all(bytes)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => self.lost(&e.to_string()),
            Err(_) => {
                let why = format!("the process that owns {} took no request for {timeout:?}", self.dir.display());
                end(&link.waiting, &why);
                self.timed_out(why)
            }
        };
        if let Some(link) = guard.take() {
            link.retire();
        }
        Err(error)
    }

    /// Waits for the answer to a call written on the link whose calls are `waiting`.
    async fn answer<R: Request>(
        &self,
        correlation: i32,
        answer: oneshot::Receiver<Answer>,
        waiting: &Mutex<Waiting>,
        version: i16,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<R::Response> {
        let body = match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(Ok(body))) => body,
            Ok(Ok(Err(why))) => return Err(self.lost(&why)),
            Ok(Err(_)) => return Err(self.lost("it closed")),
            Err(_) => {
                // The owner may still answer later: the calls on this connection fail, and
                // the next call connects again.
                let why = format!("the process that owns {} did not answer within {timeout:?}", self.dir.display());
                end(waiting, &why);
                return Err(self.timed_out(why));
            }
        };
        decode::<R>(body, version, correlation)
    }

    /// A new connection to the owner as its record says now, whose ApiVersions answer
    /// (asked first, within `timeout`) covers every request this client sends: an owner of
    /// another samsa version that does not serve one is refused by name, on every new
    /// connection, so also when the directory changed owner.
    async fn connect(&self, timeout: Duration) -> Result<Link> {
        let mut stream = connect(&self.dir).await?;
        match tokio::time::timeout(timeout, check_versions(&mut stream, &self.dir)).await {
            Ok(r) => r?,
            Err(_) => return Err(self.timed_out(format!("the owner of {} did not answer ApiVersions in time", self.dir.display()))),
        }
        let (read, write) = stream.into_split();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let reader = Some(tokio::spawn(read_answers(read, Arc::clone(&waiting))));
        let id = self.links_made.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Link { id, write, next_correlation: 0, waiting, reader })
    }

    /// A call the owner did not take or answer in time. Other calls on the connection
    /// fail as lost (it is made again for the next call), as after any failure.
    fn timed_out(&self, why: String) -> Error {
        Error::RequestTimeout(format!("{why} (requestTimeout); retry once it answers again"))
    }

    fn lost(&self, why: &str) -> Error {
        Error::Connection(format!(
            "the connection to the process that owns {} failed: {why}; retry once a process owns it",
            self.dir.display()
        ))
    }

    /// Drops the connection (the owner sees it close).
    pub async fn close(&self) {
        *self.link.lock().await = None;
    }
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands each response frame to the oldest waiting call, until the connection ends; then
/// every call still waiting learns why.
async fn read_answers(mut read: OwnedReadHalf, waiting: Arc<Mutex<Waiting>>) {
    let why = loop {
        let mut size = [0u8; 4];
        if let Err(e) = read.read_exact(&mut size).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof { "the owner closed it".to_string() } else { e.to_string() };
        }
        let len = i32::from_be_bytes(size);
        if len < 4 || len as usize > MAX_RESPONSE_BYTES {
            break format!("a response frame of {len} bytes");
        }
        let body = match read_frame(&mut read, len as usize, None).await {
            Ok((b, _)) => b,
            Err(e) => break e.to_string(),
        };
        let correlation = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let Some((expected, call)) = lock(&waiting).calls.pop_front() else {
            break format!("a response (correlation id {correlation}) to no request");
        };
        if correlation != expected {
            break format!("correlation id {correlation} where {expected} was expected");
        }
        // A call that gave up waiting has dropped its receiver.
        let _ = call.send(Ok(body));
    };
    end(&waiting, &why);
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

/// Asks the owner on `stream` which requests it serves, and refuses an owner that does not
/// serve one this client sends.
async fn check_versions(stream: &mut UnixStream, dir: &Path) -> Result<()> {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    let lost = |e: std::io::Error| Error::Connection(format!("the connection to the process that owns {} failed: {e}", dir.display()));
    let version = client_version::<ApiVersionsRequest>()?;
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("samsa"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let mut frame = encode(&req, version, CLIENT_ID)?;
    set_correlation(&mut frame, 0);
    stream.write_all(&frame).await.map_err(lost)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.map_err(lost)?;
    let len = i32::from_be_bytes(size);
    if len < 4 || len as usize > MAX_RESPONSE_BYTES {
        return Err(Error::Connection(format!("the owner of {} sent a response frame of {len} bytes", dir.display())));
    }
    let (body, _) = read_frame(stream, len as usize, None).await.map_err(lost)?;
    let resp: ApiVersionsResponse = decode::<ApiVersionsRequest>(body, version, 0)?;
    if resp.error_code != 0 {
        return Err(Error::from_wire(resp.error_code, format!("the owner of {} refused ApiVersions", dir.display())));
    }
    let served: Vec<(i16, i16, i16)> = resp.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
    match crate::wire::versions::client_unserved(&served) {
        None => Ok(()),
        Some((api, v)) => Err(Error::InvalidConfig(format!(
            "the process that owns {} does not serve {api:?} v{v}, which this process (samsa {}) sends: it runs another samsa version; run one samsa version in every process that opens a data directory",
            dir.display(),
            env!("CARGO_PKG_VERSION")
        ))),
    }
}

/// The version samsa's client sends of `R`.
pub fn client_version<R: Request>() -> Result<i16> {
    crate::wire::versions::client_version(R::KEY).ok_or_else(|| Error::InvalidRequest(format!("samsa's client has no version of api {} to send", R::KEY)))
}

/// A request frame, its correlation id still to be set.
fn encode<R: Request>(req: &R, version: i16, client_id: &str) -> Result<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
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
