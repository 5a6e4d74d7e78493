//! The memory budget: every byte a call makes the server hold — request bytes still
//! arriving, answers computed but not yet read by the client — is charged, before it is
//! held, to three limits at once: the call's, its connection's and the whole server's.
//! A charge that does not fit is refused at once (never waited for), so a client that
//! stops reading or sending can only fill its own share.
//!
//! Charges are [`Charge`] values: dropping one gives its bytes back. A call's charges
//! live in its [`Ledger`], which the response body holds until the last byte of the
//! answer has been handed to HTTP/2 flow control (`layer`), so an answer a client does
//! not read stays charged to that client.

use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budgets count in units of this many bytes (semaphores count in `u32`).
const UNIT: usize = 1024;

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

/// The server-wide budget and the per-connection and per-call limits.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    server: Arc<Semaphore>,
    pub server_bytes: usize,
    pub connection_bytes: usize,
    pub call_bytes: usize,
}

/// One connection's share of the budget.
#[derive(Debug, Clone)]
pub struct ConnectionBudget(Arc<Semaphore>);

/// Bytes held, given back on drop.
#[derive(Debug)]
pub struct Charge {
    _connection: OwnedSemaphorePermit,
    _server: OwnedSemaphorePermit,
    bytes: usize,
}

impl Charge {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Which limit a charge would have broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    Call { need: usize, limit: usize },
    Connection { need: usize, limit: usize },
    Server { need: usize, limit: usize },
}

impl Exceeded {
    /// The limit's name, as the `limit` label of `tasnif_refused_total`.
    pub fn limit(&self) -> &'static str {
        match self {
            Exceeded::Call { .. } => "call_memory",
            Exceeded::Connection { .. } => "connection_memory",
            Exceeded::Server { .. } => "memory_budget",
        }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Call { need, limit } => write!(
                f,
                "this call would make the server hold {need} bytes, over the per-call limit of \
                 {limit} (call_memory_bytes, --call-memory); ask for segments of shorter texts, \
                 leave out INCLUDE_SEGMENTS, or send the articles one by one on ClassifyStream"
            ),
            Exceeded::Connection { need, limit } => write!(
                f,
                "this connection already holds its share of server memory ({limit} bytes, \
                 connection_memory_bytes, --connection-memory) and this call needs {need} more; \
                 read the answers of your calls in flight, or make fewer of them at once"
            ),
            Exceeded::Server { need, limit } => write!(
                f,
                "the server's memory budget ({limit} bytes, memory_budget_bytes, --memory-budget) \
                 is in use and this call needs {need} more; retry with backoff"
            ),
        }
    }
}

impl MemoryBudget {
    pub fn new(server_bytes: usize, connection_bytes: usize, call_bytes: usize) -> Self {
        Self {
            server: Arc::new(Semaphore::new(units(server_bytes) as usize)),
            server_bytes,
            connection_bytes,
            call_bytes,
        }
    }

    /// A new connection's share.
    pub fn connection(&self) -> ConnectionBudget {
        ConnectionBudget(Arc::new(Semaphore::new(
            units(self.connection_bytes) as usize
        )))
    }

    /// Charges `bytes` more to a call whose charges are in `ledger` (checked against the
    /// per-call limit too) and holds them there.
    pub fn charge_call(
        &self,
        ledger: &Ledger,
        connection: &ConnectionBudget,
        bytes: usize,
    ) -> Result<(), Exceeded> {
        let need = ledger.held() + bytes;
        if need > self.call_bytes {
            return Err(Exceeded::Call {
                need,
                limit: self.call_bytes,
            });
        }
        ledger.hold(self.charge(connection, bytes)?);
        Ok(())
    }

    /// Charges `bytes` to the connection and the server, or refuses at once.
    pub fn charge(&self, connection: &ConnectionBudget, bytes: usize) -> Result<Charge, Exceeded> {
        let n = units(bytes);
        let conn = connection
            .0
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| Exceeded::Connection {
                need: bytes,
                limit: self.connection_bytes,
            })?;
        let server =
            self.server
                .clone()
                .try_acquire_many_owned(n)
                .map_err(|_| Exceeded::Server {
                    need: bytes,
                    limit: self.server_bytes,
                })?;
        Ok(Charge {
            _connection: conn,
            _server: server,
            bytes,
        })
    }

    /// Bytes charged right now, server-wide.
    pub fn in_use(&self) -> usize {
        (units(self.server_bytes) as usize - self.server.available_permits()) * UNIT
    }
}

/// The charges of one call, held until its answer has been written.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<Vec<Charge>>>);

impl Ledger {
    pub fn hold(&self, charge: Charge) {
        if let Ok(mut charges) = self.0.lock() {
            charges.push(charge);
        }
    }

    pub fn held(&self) -> usize {
        self.0
            .lock()
            .map_or(0, |c| c.iter().map(Charge::bytes).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_refused_at_each_limit_and_given_back_on_drop() {
        let budget = MemoryBudget::new(100 * UNIT, 40 * UNIT, 30 * UNIT);
        let a = budget.connection();
        let b = budget.connection();
        let call = Ledger::default();
        budget.charge_call(&call, &a, 20 * UNIT).unwrap();
        assert!(matches!(
            budget.charge_call(&call, &a, 11 * UNIT),
            Err(Exceeded::Call { .. })
        ));
        budget.charge_call(&call, &a, 10 * UNIT).unwrap();
        let first = call;
        assert!(matches!(
            budget.charge(&a, 11 * UNIT),
            Err(Exceeded::Connection { .. })
        ));
        let _b1 = budget.charge(&b, 40 * UNIT).unwrap();
        let c = budget.connection();
        let _c1 = budget.charge(&c, 30 * UNIT).unwrap();
        assert_eq!(budget.in_use(), 100 * UNIT);
        assert!(matches!(budget.charge(&c, 1), Err(Exceeded::Server { .. })));
        drop(first);
        assert_eq!(budget.in_use(), 70 * UNIT);
        let ledger = Ledger::default();
        ledger.hold(budget.charge(&a, 5 * UNIT).unwrap());
        assert_eq!(ledger.held(), 5 * UNIT);
        drop(ledger);
        assert_eq!(budget.in_use(), 70 * UNIT);
        // A refused connection charge takes nothing from the server.
        assert!(budget.charge(&b, 1).is_err());
        assert_eq!(budget.in_use(), 70 * UNIT);
        assert!(Exceeded::Call { need: 1, limit: 2 }
            .to_string()
            .contains("--call-memory"));
    }
}
