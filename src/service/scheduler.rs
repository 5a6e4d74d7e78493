//! The classification workers and the fair queue in front of them.
//!
//! Work is admitted by cost — the characters it will classify, and the number of items —
//! against server-wide caps and per-connection caps, and refused at once past any, so one
//! connection cannot fill the queue. Queued work waits in one queue per connection, and workers take
//! jobs from the connections in turn (round robin), so a small call from one client is
//! never queued behind another client's hundred heavy ones. One extra *express* worker
//! takes only cheap jobs (at most [`EXPRESS_CHARS`] characters), and only while a regular
//! worker is busy with a heavy one: a short call still starts at once while every regular
//! worker is on a long article, and under ordinary load the machine's cores are not
//! oversubscribed.
//!
//! A job whose call was cancelled or whose deadline passed leaves the queue without
//! running ([`Ticket`]); a running one stops at its next segment boundary (the classifier
//! asks the ticket).

use std::collections::VecDeque;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use rustc_hash::FxHashMap;
use tracing::error;

/// Jobs of at most this many characters may run on the express worker.
pub const EXPRESS_CHARS: usize = 20_000;

/// How many times an idle regular worker yields its core, re-checking the queue each
/// time, before it sleeps on the condition variable.
const YIELDS_BEFORE_SLEEP: u32 = 32;

/// Why a call stopped before its work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Cancelled,
    DeadlineExceeded,
}

/// A call's cancellation flag and deadline, shared by its jobs.
#[derive(Debug, Default)]
pub struct Ticket {
    cancelled: AtomicBool,
    deadline: Option<Instant>,
}

impl Ticket {
    pub fn new(deadline: Option<Instant>) -> Self {
        Self {
            cancelled: AtomicBool::new(false),
            deadline,
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// `Err` once the call is cancelled or its deadline has passed.
    pub fn check(&self) -> Result<(), Stop> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Stop::Cancelled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(Stop::DeadlineExceeded),
            _ => Ok(()),
        }
    }
}

/// Cancels its ticket when dropped, unless disarmed: held by the call's future, so a
/// call whose client goes away (the future is dropped) stops its work.
pub struct CancelOnDrop(pub Arc<Ticket>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Admission caps: characters and items queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub chars: usize,
    pub items: usize,
}

/// Which admission cap refused a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Busy {
    Server { queued: usize, limit: usize },
    Connection { queued: usize, limit: usize },
    ServerItems { queued: usize, limit: usize },
    ConnectionItems { queued: usize, limit: usize },
    Closed,
}

impl Busy {
    /// The limit's name, as the `limit` label of `tasnif_refused_total`.
    pub fn limit(&self) -> &'static str {
        match self {
            Busy::Server { .. } => "max_queued_chars",
            Busy::Connection { .. } => "connection_queued_chars",
            Busy::ServerItems { .. } => "max_in_flight",
            Busy::ConnectionItems { .. } => "connection_in_flight",
            Busy::Closed => "closed",
        }
    }
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Busy::Server { queued, limit } => write!(
                f,
                "server is busy: {queued} characters queued or being classified, the limit is \
                 {limit} (max_queued_chars, --max-queued-chars); retry with backoff"
            ),
            Busy::Connection { queued, limit } => write!(
                f,
                "this connection already has {queued} characters queued or being classified, \
                 its limit is {limit} (connection_queued_chars); wait for your calls in flight \
                 or send fewer at once"
            ),
            Busy::ServerItems { queued, limit } => write!(
                f,
                "server is busy: {queued} classifications already in flight, the limit is {limit} \
                 (max_in_flight, --max-in-flight); retry with backoff"
            ),
            Busy::ConnectionItems { queued, limit } => write!(
                f,
                "this connection already has {queued} classifications in flight, its limit is \
                 {limit} (a quarter of max_in_flight); wait for your calls in flight or send \
                 fewer at once"
            ),
            Busy::Closed => write!(f, "server is shutting down"),
        }
    }
}

/// What a job does once its slot is free again: deliver its result. The slot frees
/// before the answer leaves, so a caller that got its answer can count on it.
pub type Deliver = Box<dyn FnOnce() + Send>;
/// A job: compute, and return how to deliver.
pub type Work = Box<dyn FnOnce() -> Deliver + Send>;

struct Job {
    cost: usize,
    ticket: Arc<Ticket>,
    work: Work,
}

#[derive(Default)]
struct State {
    queues: FxHashMap<u64, VecDeque<Job>>,
    /// Connections with queued jobs, in turn order.
    turns: VecDeque<u64>,
    /// Characters and items queued or running, server-wide and per connection.
    queued: usize,
    items: usize,
    per_connection: FxHashMap<u64, (usize, usize)>,
    /// Workers waiting on `work_ready` / whether the express worker waits on
    /// `express_ready`: a condvar is only signalled when someone sleeps on it (a signal is
    /// a system call even with no waiter, and under load every worker is busy).
    sleeping: usize,
    express_sleeping: bool,
    /// Regular workers running a job of more than [`EXPRESS_CHARS`] characters: the
    /// express worker works only while this is positive.
    heavy_running: usize,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes regular workers (one per job queued) and the express worker (for cheap
    /// jobs): no thundering herd of every worker on every call.
    work_ready: Condvar,
    express_ready: Condvar,
    server: Caps,
    connection: Caps,
}

/// The worker threads and their fair queue. Dropping the last handle stops the workers
/// once the queue is empty.
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl Scheduler {
    /// Starts `workers` regular workers and one express worker.
    pub fn new(workers: usize, server: Caps, connection: Caps) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            work_ready: Condvar::new(),
            express_ready: Condvar::new(),
            server,
            connection,
        });
        for i in 0..=workers {
            let express = i == workers;
            let inner = inner.clone();
            let name = if express {
                "tasnif-express".to_string()
            } else {
                format!("tasnif-worker-{i}")
            };
            std::thread::Builder::new()
                .name(name)
                .spawn(move || inner.work(express))?;
        }
        Ok(Self { inner })
    }

    /// Queues `work` (costing `cost` characters) for connection `connection`, or refuses it
    /// at once when a cap would be exceeded.
    pub fn submit(
        &self,
        connection: u64,
        cost: usize,
        ticket: Arc<Ticket>,
        work: impl FnOnce() -> Deliver + Send + 'static,
    ) -> Result<(), Busy> {
        self.submit_all(connection, vec![(cost, ticket, Box::new(work) as Work)])
    }

    /// Queues several jobs together: all are admitted or none.
    pub fn submit_all(
        &self,
        connection: u64,
        jobs: Vec<(usize, Arc<Ticket>, Work)>,
    ) -> Result<(), Busy> {
        let total: usize = jobs.iter().map(|j| j.0).sum();
        let items = jobs.len();
        let (server, conn) = (self.inner.server, self.inner.connection);
        let mut st = self.inner.lock();
        if st.closed {
            return Err(Busy::Closed);
        }
        // A cap bounds sharing, not the size of one call: with nothing else queued, any
        // single call (already bounded by the request limits) is admitted.
        let (mine, my_items) = st
            .per_connection
            .get(&connection)
            .copied()
            .unwrap_or((0, 0));
        if my_items + items > conn.items {
            return Err(Busy::ConnectionItems {
                queued: my_items,
                limit: conn.items,
            });
        }
        if st.items + items > server.items {
            return Err(Busy::ServerItems {
                queued: st.items,
                limit: server.items,
            });
        }
        if mine > 0 && mine + total > conn.chars {
            return Err(Busy::Connection {
                queued: mine,
                limit: conn.chars,
            });
        }
        if st.queued > 0 && st.queued + total > server.chars {
            return Err(Busy::Server {
                queued: st.queued,
                limit: server.chars,
            });
        }
        st.queued += total;
        st.items += items;
        let entry = st.per_connection.entry(connection).or_default();
        entry.0 += total;
        entry.1 += items;
        let cheap = jobs.iter().any(|j| j.0 <= EXPRESS_CHARS);
        let queue = st.queues.entry(connection).or_default();
        let was_empty = queue.is_empty();
        queue.extend(
            jobs.into_iter()
                .map(|(cost, ticket, work)| Job { cost, ticket, work }),
        );
        if was_empty {
            st.turns.push_back(connection);
        }
        let wake = st.sleeping.min(items);
        let wake_express = cheap && st.express_sleeping && st.heavy_running > 0;
        drop(st);
        for _ in 0..wake {
            self.inner.work_ready.notify_one();
        }
        if wake_express {
            self.inner.express_ready.notify_one();
        }
        Ok(())
    }

    /// Characters queued or running, server-wide.
    pub fn queued_chars(&self) -> usize {
        self.inner.lock().queued
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.inner.lock().closed = true;
        self.inner.work_ready.notify_all();
        self.inner.express_ready.notify_all();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock still holds a valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self, express: bool) {
        loop {
            let (connection, job, heavy) = {
                let mut st = self.lock();
                let mut yields = 0;
                let (connection, job) = loop {
                    if let Some(next) = st.next(express) {
                        break next;
                    }
                    if st.closed {
                        return;
                    }
                    if !express && yields < YIELDS_BEFORE_SLEEP {
                        // Under load the next job usually arrives within microseconds;
                        // giving the core to the I/O threads a few times first is cheaper
                        // than a futex sleep and wake (rayon's workers do the same).
                        yields += 1;
                        drop(st);
                        std::thread::yield_now();
                        st = self.lock();
                        continue;
                    }
                    if express {
                        st.express_sleeping = true;
                        st = self
                            .express_ready
                            .wait(st)
                            .unwrap_or_else(|e| e.into_inner());
                        st.express_sleeping = false;
                    } else {
                        st.sleeping += 1;
                        st = self.work_ready.wait(st).unwrap_or_else(|e| e.into_inner());
                        st.sleeping -= 1;
                    }
                };
                let heavy = !express && job.cost > EXPRESS_CHARS;
                if heavy {
                    st.heavy_running += 1;
                    if st.express_sleeping {
                        self.express_ready.notify_one();
                    }
                }
                (connection, job, heavy)
            };
            let cost = job.cost;
            // A job whose caller left or ran out of time is dropped unrun; dropping its
            // closure drops the channel its caller waits on.
            let mut deliver = None;
            if job.ticket.check().is_ok() {
                match std::panic::catch_unwind(AssertUnwindSafe(job.work)) {
                    Ok(d) => deliver = Some(d),
                    Err(_) => error!("a classification job panicked; its call gets INTERNAL"),
                }
            } else {
                drop(job);
            }
            let mut st = self.lock();
            st.queued -= cost;
            st.items -= 1;
            if heavy {
                st.heavy_running -= 1;
            }
            if let Some(n) = st.per_connection.get_mut(&connection) {
                n.0 -= cost;
                n.1 -= 1;
                if n.1 == 0 {
                    st.per_connection.remove(&connection);
                }
            }
            drop(st);
            if let Some(deliver) = deliver {
                deliver();
            }
        }
    }
}

impl State {
    /// The next job in turn order: the first connection's oldest job (for the express
    /// worker, the first connection whose oldest job is cheap).
    fn next(&mut self, express: bool) -> Option<(u64, Job)> {
        if express && self.heavy_running == 0 {
            return None;
        }
        let position = self.turns.iter().position(|c| {
            self.queues
                .get(c)
                .and_then(|q| q.front())
                .is_some_and(|job| !express || job.cost <= EXPRESS_CHARS)
        })?;
        let connection = self.turns.remove(position)?;
        let queue = self.queues.get_mut(&connection)?;
        let job = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&connection);
        } else {
            self.turns.push_back(connection);
        }
        Some((connection, job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn done() -> Deliver {
        Box::new(|| {})
    }

    fn caps(chars: usize) -> Caps {
        Caps { chars, items: 100 }
    }

    #[test]
    fn connections_take_turns() {
        // One worker, blocked while the queue fills: then the order of execution shows
        // the round robin.
        let s = Scheduler::new(1, caps(1_000_000), caps(1_000_000)).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let ticket = Arc::new(Ticket::default());
        s.submit(9, 30_000, ticket.clone(), move || {
            gate_rx.recv().unwrap();
            done()
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        for i in 0..3 {
            let tx = tx.clone();
            s.submit(1, 30_000, ticket.clone(), move || {
                tx.send((1, i)).unwrap();
                done()
            })
            .unwrap();
        }
        let tx2 = tx.clone();
        s.submit(2, 30_000, ticket.clone(), move || {
            tx2.send((2, 0)).unwrap();
            done()
        })
        .unwrap();
        gate_tx.send(()).unwrap();
        let order: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(order, vec![(1, 0), (2, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn express_worker_runs_small_jobs_while_workers_are_busy() {
        let s = Scheduler::new(1, caps(1_000_000), caps(1_000_000)).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let ticket = Arc::new(Ticket::default());
        s.submit(1, 500_000, ticket.clone(), move || {
            gate_rx.recv().unwrap();
            done()
        })
        .unwrap();
        let (tx, rx) = mpsc::channel();
        s.submit(2, 100, ticket, move || {
            tx.send(()).unwrap();
            done()
        })
        .unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the small job ran while the only worker was blocked");
        gate_tx.send(()).unwrap();
    }

    #[test]
    fn admission_caps_per_connection_and_server() {
        let s = Scheduler::new(1, caps(100_000), caps(60_000)).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let t = Arc::new(Ticket::default());
        s.submit(1, 50_000, t.clone(), move || {
            gate_rx.recv().unwrap();
            done()
        })
        .unwrap();
        assert!(matches!(
            s.submit(1, 20_000, t.clone(), done),
            Err(Busy::Connection { .. })
        ));
        s.submit(2, 40_000, t.clone(), done).unwrap();
        assert!(matches!(
            s.submit(3, 20_000, t.clone(), done),
            Err(Busy::Server { .. })
        ));
        // A single job over a cap is admitted when nothing else is queued for it: caps
        // bound sharing, not the size of one article.
        gate_tx.send(()).unwrap();
        for _ in 0..100 {
            if s.queued_chars() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(s.queued_chars(), 0);
        s.submit(4, 200_000, t.clone(), done).unwrap();
        // Items are capped too.
        let s = Scheduler::new(
            1,
            caps(1_000_000),
            Caps {
                chars: 1_000_000,
                items: 2,
            },
        )
        .unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        s.submit(1, 1, t.clone(), move || {
            gate_rx.recv().unwrap();
            done()
        })
        .unwrap();
        s.submit(1, 1, t.clone(), done).unwrap();
        assert!(matches!(
            s.submit(1, 1, t.clone(), done),
            Err(Busy::ConnectionItems { .. })
        ));
        s.submit(2, 1, t, done).unwrap();
        gate_tx.send(()).unwrap();
    }

    #[test]
    fn cancelled_jobs_do_not_run() {
        let s = Scheduler::new(1, caps(1_000_000), caps(1_000_000)).unwrap();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let live = Arc::new(Ticket::default());
        s.submit(1, 30_000, live.clone(), move || {
            gate_rx.recv().unwrap();
            done()
        })
        .unwrap();
        let gone = Arc::new(Ticket::default());
        let (tx, rx) = mpsc::channel::<&str>();
        let tx1 = tx.clone();
        s.submit(2, 30_000, gone.clone(), move || {
            tx1.send("cancelled").unwrap();
            done()
        })
        .unwrap();
        s.submit(3, 30_000, live, move || {
            tx.send("live").unwrap();
            done()
        })
        .unwrap();
        gone.cancel();
        gate_tx.send(()).unwrap();
        assert_eq!(rx.recv().unwrap(), "live");
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        let expired = Ticket::new(Some(Instant::now()));
        assert_eq!(expired.check(), Err(Stop::DeadlineExceeded));
    }
}
