//! Connections: the listening socket, the accept loop, and what each accepted connection
//! carries.
//!
//! * the listen backlog is sized for bursts (`--listen-backlog`, not the 128 a plain
//!   bind gives);
//! * at most `--max-connections` are open; past it, the loop stops accepting until one
//!   closes (clients wait in the backlog rather than spending descriptors);
//! * `accept` failing for lack of descriptors (EMFILE/ENFILE) backs off exponentially
//!   (10 ms to 1 s) and is logged once per burst instead of spinning a core;
//! * a connection that sends nothing within `--handshake-timeout` (no HTTP/2 preface),
//!   or that has had no call for `--idle-timeout`, is closed;
//! * every connection gets an id and its own share of the memory budget
//!   ([`ConnectionInfo`], found in each request's extensions).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Instant, Sleep};
use tonic::transport::server::Connected;
use tracing::{debug, warn};

use super::budget::{ConnectionBudget, MemoryBudget};

/// Binds `addr` with a listen backlog of `backlog`.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// What the server knows about a connection; cloned into every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub id: u64,
    pub remote: Option<SocketAddr>,
    pub budget: ConnectionBudget,
    activity: Arc<Activity>,
}

/// Calls open on a connection, and when the last one ended.
#[derive(Debug)]
struct Activity {
    calls: AtomicUsize,
    /// Milliseconds since `epoch` when the connection last became idle.
    idle_since_ms: AtomicU64,
    epoch: Instant,
}

/// Marks a call open on its connection until dropped.
#[derive(Debug)]
pub struct OpenCall(Arc<Activity>);

impl ConnectionInfo {
    pub fn open_call(&self) -> OpenCall {
        self.activity.calls.fetch_add(1, Ordering::Relaxed);
        OpenCall(self.activity.clone())
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms
            .store(a.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        a.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connection settings (from `serve`'s flags).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// `None`: idle connections stay open.
    pub idle_timeout: Option<Duration>,
    /// TCP keepalive idle time; `None`: off.
    pub tcp_keepalive: Option<Duration>,
}

/// An accepted connection: the socket, its timers and its slot under `max_connections`.
pub struct Connection {
    stream: TcpStream,
    info: ConnectionInfo,
    timer: Pin<Box<Sleep>>,
    greeted: bool,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    _slot: OwnedSemaphorePermit,
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;
    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl Connection {
    /// `Err` when the connection has timed out; otherwise arms the timer's next check.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.timer.as_mut().poll(cx).is_ready() {
            if !self.greeted {
                debug!(remote = ?self.info.remote, "closing a connection that sent nothing");
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within the handshake timeout",
                ));
            }
            let Some(idle) = self.idle_timeout else {
                // Greeted and no idle timeout: nothing left to time.
                self.timer
                    .as_mut()
                    .reset(Instant::now() + Duration::from_secs(86_400 * 365));
                continue;
            };
            let a = &self.info.activity;
            let next = if a.calls.load(Ordering::Relaxed) > 0 {
                Instant::now() + idle
            } else {
                let since =
                    a.epoch + Duration::from_millis(a.idle_since_ms.load(Ordering::Relaxed));
                if since + idle <= Instant::now() {
                    debug!(remote = ?self.info.remote, "closing an idle connection");
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle for longer than the idle timeout",
                    ));
                }
                since + idle
            };
            self.timer.as_mut().reset(next);
        }
        Ok(())
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if buf.filled().len() > before && !this.greeted {
                this.greeted = true;
                // From now on the timer watches for idleness.
                let next = Instant::now() + this.idle_timeout.unwrap_or(this.handshake_timeout);
                this.timer.as_mut().reset(next);
            }
            return polled;
        }
        if let Err(e) = this.poll_timer(cx) {
            return Poll::Ready(Err(e));
        }
        polled
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// True for the accept errors that mean "out of descriptors or memory".
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The accepted connections of `listener`, under `limits`. Never yields an error: accept
/// failures are handled (and logged) here.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    budget: MemoryBudget,
) -> impl Stream<Item = io::Result<Connection>> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let next_id = AtomicU64::new(1);
    futures::stream::unfold(
        (listener, slots, next_id, limits, budget),
        |(listener, slots, next_id, limits, budget)| async move {
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the connection semaphore is never closed");
            let mut backoff = Duration::from_millis(10);
            let mut failures = 0u64;
            let stream = loop {
                match listener.accept().await {
                    Ok((stream, _)) => break stream,
                    Err(e) if is_resource_error(&e) => {
                        if failures == 0 {
                            warn!(error = %e, "accept failed: out of descriptors or memory; backing off (raise `ulimit -n` or lower --max-connections)");
                        }
                        failures += 1;
                        sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    Err(e) => debug!(error = %e, "accept failed"),
                }
            };
            if failures > 0 {
                warn!(failures, "accepting again after running out of descriptors");
            }
            let _ = stream.set_nodelay(true);
            if let Some(idle) = limits.tcp_keepalive {
                let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
            }
            let now = Instant::now();
            let info = ConnectionInfo {
                id: next_id.fetch_add(1, Ordering::Relaxed),
                remote: stream.peer_addr().ok(),
                budget: budget.connection(),
                activity: Arc::new(Activity {
                    calls: AtomicUsize::new(0),
                    idle_since_ms: AtomicU64::new(0),
                    epoch: now,
                }),
            };
            let connection = Connection {
                stream,
                info,
                timer: Box::pin(sleep(limits.handshake_timeout)),
                greeted: false,
                handshake_timeout: limits.handshake_timeout,
                idle_timeout: limits.idle_timeout,
                _slot: slot,
            };
            Some((Ok(connection), (listener, slots, next_id, limits, budget)))
        },
    )
}

/// Raises the soft limit on open descriptors to the hard limit, and returns the limit.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_descriptor_limit() -> Option<u64> {
    None
}
