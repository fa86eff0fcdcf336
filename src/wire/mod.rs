//! The Kafka-protocol listener: a second front door onto the same broker, so kafkajs,
//! librdkafka (kcat, Python, node-rdkafka) and Java clients in other processes can use it.
//!
//! One tokio task per connection, one request at a time, answered in order. Requests are
//! decoded with the kafka-protocol crate and translated into the broker's own operations
//! (src/broker/requests.rs, the group coordinator): nothing here holds broker logic. The
//! listener runs on a small runtime of its own and stops by a broadcast to every task.

mod api;
pub use api::SESSION_TIMEOUT_TAG;
pub(crate) mod connection;
pub mod local;
pub mod versions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};

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
    pub max_connections: usize,
    /// A connection silent this long is closed (Kafka's connections.max.idle.ms).
    pub idle_timeout: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            host: "127.0.0.1".into(),
            port: 9092,
            advertised_host: None,
            advertised_port: None,
            max_frame_bytes: 100 * 1024 * 1024,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// What every connection's handlers share.
pub struct Ctx {
    pub broker: Arc<Broker>,
    /// The one broker's advertised address and node id (0).
    pub host: String,
    pub port: i32,
    pub cluster_id: String,
    pub config: ListenerConfig,
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
        let _ = std::fs::remove_file(path);
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(path).map_err(|e| Error::io_at("listening on the socket", path, e))?
        };
        let config = ListenerConfig { max_frame_bytes: 1024 * 1024 * 1024, max_connections: 10_000, idle_timeout: Duration::from_secs(365 * 24 * 3600), ..ListenerConfig::default() };
        let ctx = Arc::new(Ctx { cluster_id: cluster_id(broker.dir()), broker, host: "localhost".into(), port: 0, config });
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
        let advertised_host = config.advertised_host.clone().unwrap_or_else(|| local.ip().to_string());
        let advertised_port = config.advertised_port.unwrap_or(local.port());
        let ctx = Arc::new(Ctx {
            cluster_id: cluster_id(broker.dir()),
            broker,
            host: advertised_host.clone(),
            port: i32::from(advertised_port),
            config: config.clone(),
        });
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

/// A stable id for the data directory's "cluster", as Kafka's cluster ids look.
fn cluster_id(dir: &std::path::Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("samsa-{h:016x}")
}

async fn accept(listener: TcpListener, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections));
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
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, max = ctx.config.max_connections, "refusing a connection: too many open");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ctx, stopped) = (Arc::clone(&ctx), stopped.clone());
        tokio::spawn(async move {
            connection::serve(stream, peer.to_string(), ctx, stopped).await;
            drop(permit);
        });
    }
}

async fn accept_unix(listener: UnixListener, ctx: Arc<Ctx>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections));
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
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(max = ctx.config.max_connections, "refusing a local connection: too many open");
            continue;
        };
        let peer = match stream.peer_cred() {
            Ok(c) => format!("local pid {}", c.pid().unwrap_or(0)),
            Err(_) => "local process".to_string(),
        };
        let (ctx, stopped) = (Arc::clone(&ctx), stopped.clone());
        tokio::spawn(async move {
            connection::serve(stream, peer, ctx, stopped).await;
            drop(permit);
        });
    }
}
