//! The Kafka-protocol listener: a second front door onto the same broker, so kafkajs,
//! librdkafka (kcat, Python, node-rdkafka) and Java clients in other processes can use it.
//!
//! One tokio task per connection, one request at a time, answered in order. Requests are
//! decoded with the kafka-protocol crate and translated into the broker's own operations
//! (src/broker/requests.rs, the group coordinator): nothing here holds broker logic. The
//! listener runs on a small runtime of its own and stops by a broadcast to every task.

mod address;
mod api;
pub use api::SESSION_TIMEOUT_TAG;
pub(crate) mod connection;
mod limits;
pub mod local;
pub mod versions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::error::{Error, Result};

/// How the listener is bound and bounded.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// The address clients are told to connect to (Metadata, FindCoordinator): by default
    /// the bound one.
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    /// The largest request accepted (Kafka's socket.request.max.bytes).
    pub max_frame_bytes: usize,
    /// The bytes requests being read or handled may hold together beyond the first 64 KiB
    /// of each (Kafka's queued.max.request.bytes); at least `max_frame_bytes`.
    pub max_queued_request_bytes: usize,
    /// Connections open at once (Kafka's max.connections). A new one past it takes the
    /// place of the connection that has gone longest without completing a request.
    pub max_connections: usize,
    /// A connection silent this long between requests is closed (Kafka's
    /// connections.max.idle.ms).
    pub idle_timeout: Duration,
    /// A request must arrive whole within this from its first byte, and a new connection
    /// must send its first one within this of connecting; otherwise it is closed.
    pub request_read_timeout: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            host: "127.0.0.1".into(),
            port: 9092,
            advertised_host: None,
            advertised_port: None,
            max_frame_bytes: 100 * 1024 * 1024,
            max_queued_request_bytes: 200 * 1024 * 1024,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(600),
            request_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What a connection's handlers share: the listener's, and the client's address.
#[derive(Clone)]
pub struct Ctx {
    pub broker: Arc<Broker>,
    /// The one broker's advertised address and node id (0).
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
    pub config: ListenerConfig,
    /// Where the connection's client is, as Kafka reports a member's `client.host`
    /// (`/127.0.0.1`); for another samsa process on the owner's socket, with its pid.
    pub client_host: String,
    /// Whether the clients are other samsa processes (the owner's socket): their error
    /// codes carry samsa's retriability (see [`Error::wire_code`]).
    samsa_peers: bool,
    /// What requests in progress hold, together.
    frame_budget: Arc<limits::ByteBudget>,
    slots: Arc<limits::Slots>,
}

impl Ctx {
    /// The error code to answer with (see [`Error::wire_code`]).
    pub fn code(&self, e: &Error) -> i16 {
        e.wire_code(self.samsa_peers)
    }

    /// Whether the clients are other samsa processes (the owner's socket).
    pub fn samsa_peers(&self) -> bool {
        self.samsa_peers
    }

    fn new(broker: Arc<Broker>, host: String, port: i32, config: ListenerConfig, samsa_peers: bool) -> Arc<Ctx> {
        Arc::new(Ctx {
            samsa_peers,
            cluster_id: broker.cluster_id().to_string(),
            frame_budget: limits::ByteBudget::new(config.max_queued_request_bytes.max(config.max_frame_bytes)),
            slots: limits::Slots::new(config.max_connections),
            broker,
            host,
            port,
            config,
            client_host: String::new(),
        })
    }

    /// The context of one connection, from `client_host`.
    fn for_client(self: &Arc<Ctx>, client_host: String) -> Arc<Ctx> {
        Arc::new(Ctx { client_host, ..Ctx::clone(self) })
    }
}

/// A running listener. Dropping it without [`Listener::stop`] stops it too.
pub struct Listener {
    /// The bound TCP address (unspecified for a Unix-socket listener).
    local: SocketAddr,
    advertised: (String, u16),
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// `workers`: threads serving connections. With one, the thread waiting in epoll runs the
/// request it was woken for itself; with more, it wakes another to run it (a hop per
/// request, for requests served side by side).
fn listener_runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("samsa-wire")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::io("starting the listener's runtime", e))
}

impl Listener {
    /// Serves the broker to this machine's other processes on a Unix domain socket at
    /// `path` (see [`local`] for where it lies and how it is recorded). Whatever is at
    /// `path` is a socket a previous owner left behind: the caller holds the data
    /// directory's lock, so no live process serves it.
    pub fn start_unix(broker: Arc<Broker>, path: &std::path::Path) -> Result<Listener> {
        // The machine's other processes of one application: answered fast, one at a time.
        let runtime = listener_runtime(1)?;
        // Connecting takes write permission on the socket: this user's processes alone.
        // It is bound under a name of its own (no longer than the socket's: sun_path is
        // short), made private, then put in place, so no one connects while it has the
        // process's default mode.
        let unready = path.with_file_name(format!(".s{}", std::process::id()));
        let _ = std::fs::remove_file(&unready);
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&unready).map_err(|e| Error::io_at("listening on the socket", &unready, e))?
        };
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&unready, std::fs::Permissions::from_mode(crate::fsutil::FILE_MODE))
                .and_then(|()| std::fs::rename(&unready, path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&unready);
                    Error::io_at("making the socket private", path, e)
                })?;
        }
        // The owner's socket: only this user's processes may connect, and they may send
        // what a producer of theirs sends; idle connections are theirs to keep.
        let config = ListenerConfig {
            max_frame_bytes: 1024 * 1024 * 1024,
            max_queued_request_bytes: 1024 * 1024 * 1024,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(365 * 24 * 3600),
            ..ListenerConfig::default()
        };
        let ctx = Ctx::new(broker, "localhost".into(), 0, config, true);
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept_unix(listener, ctx, stopped));
        tracing::debug!(socket = %path.display(), "serving the data directory to this machine's other processes");
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Ok(Listener { local: unspecified, advertised: (path.display().to_string(), 0), stop, runtime: Some(runtime) })
    }

    /// Binds and starts accepting connections.
    pub fn start(broker: Arc<Broker>, config: ListenerConfig) -> Result<Listener> {
        let runtime = listener_runtime(2)?;
        let bind = format!("{}:{}", config.host, config.port);
        let listener = runtime
            .block_on(TcpListener::bind(&bind))
            .map_err(|e| Error::io(format!("listening on {bind}"), e))?;
        let local = listener.local_addr().map_err(|e| Error::io("reading the listener's address", e))?;
        // Bound to every interface, the listener tells clients an address they can reach.
        let advertised_host = config.advertised_host.clone().unwrap_or_else(|| {
            if local.ip().is_unspecified() {
                address::reachable_address().to_string()
            } else {
                local.ip().to_string()
            }
        });
        if !local.ip().is_loopback() {
            tracing::warn!(
                address = %local,
                "samsa has no authentication: anyone who can reach port {} on this machine can read and write every topic; listen on 127.0.0.1 unless the network is trusted",
                local.port()
            );
        }
        let advertised_port = config.advertised_port.unwrap_or(local.port());
        let ctx = Ctx::new(broker, advertised_host.clone(), i32::from(advertised_port), config, false);
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept(listener, ctx, stopped));
        tracing::info!(address = %local, advertised = %format!("{advertised_host}:{advertised_port}"), "accepting Kafka connections");
        Ok(Listener { local, advertised: (advertised_host, advertised_port), stop, runtime: Some(runtime) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn advertised(&self) -> (&str, u16) {
        (&self.advertised.0, self.advertised.1)
    }

    /// Stops accepting, closes every connection and ends the listener's threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            // Allowed from inside another runtime (napi's), unlike dropping it.
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, say: wait a moment instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = ctx.slots.admit() else {
            tracing::warn!(%peer, max = ctx.config.max_connections, "refusing a connection: too many open, each inside a request");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ctx, stopped) = (ctx.for_client(format!("/{}", peer.ip())), stopped.clone());
        tokio::spawn(connection::serve(stream, peer.to_string(), ctx, stopped, slot));
    }
}

async fn accept_unix(listener: UnixListener, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a local connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = ctx.slots.admit() else {
            tracing::warn!(max = ctx.config.max_connections, "refusing a local connection: too many open, each inside a request");
            continue;
        };
        let pid = stream.peer_cred().ok().and_then(|c| c.pid());
        let peer = pid.map_or("local process".to_string(), |pid| format!("local pid {pid}"));
        let client_host = pid.map_or("/127.0.0.1".to_string(), |pid| format!("/127.0.0.1 pid {pid}"));
        let (ctx, stopped) = (ctx.for_client(client_host), stopped.clone());
        tokio::spawn(connection::serve(stream, peer, ctx, stopped, slot));
    }
}
