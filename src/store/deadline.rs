//! Every database call bounded in time. The pool's acquire timeout only bounds the wait
//! for a connection: a statement sent on a connection whose server stopped answering (a frozen
//! host, a SIGSTOPped PostgreSQL: the kernel keeps acknowledging the bytes, so TCP keepalive
//! notices nothing, and a frozen server cannot apply its own `statement_timeout`) would wait
//! forever. `TimedPool` and `Tx` are the
//! executors every store function runs on; each call (connection wait included) either ends
//! within the limit or fails with an I/O `TimedOut` error, which the store maps to
//! `StoreError::Unavailable` (503).
//!
//! A call given up on drops its connection: sqlx pings it before taking it back, so a connection
//! that answers again later is reused and one that does not is closed. A transaction given up on
//! is rolled back, except a `COMMIT` already sent, which the server may still apply: the client
//! then sees 503 for a change that happened, never the reverse.

use std::future::Future;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{AnyConnection, AnyPool, Describe, Either, Execute, Executor, Transaction};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;
type Step = Either<AnyQueryResult, AnyRow>;

/// The error of a call that ran out of time.
fn timed_out(limit: Duration) -> sqlx::Error {
    sqlx::Error::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no answer from the database within {} ms",
            limit.as_millis()
        ),
    ))
}

/// `fut`, or `timed_out` once `limit` has passed.
fn bounded<'e, T: Send + 'e>(
    limit: Duration,
    fut: impl Future<Output = Result<T, sqlx::Error>> + Send + 'e,
) -> BoxFuture<'e, Result<T, sqlx::Error>> {
    Box::pin(async move {
        tokio::time::timeout(limit, fut)
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
    })
}

/// A stream that must end within `limit` of its first poll; past it, it yields one `timed_out`
/// error and ends (dropping the inner stream, which gives its connection back).
struct Bounded<'e> {
    inner: Option<BoxStream<'e, Result<Step, sqlx::Error>>>,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<'e> Bounded<'e> {
    fn boxed(
        inner: BoxStream<'e, Result<Step, sqlx::Error>>,
        limit: Duration,
    ) -> BoxStream<'e, Result<Step, sqlx::Error>> {
        Box::pin(Bounded {
            inner: Some(inner),
            limit,
            deadline: None,
        })
    }
}

impl Stream for Bounded<'_> {
    type Item = Result<Step, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (boxed), so the struct is too.
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let limit = this.limit;
        // Started on the first poll: sqlx builds streams before the caller awaits them.
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.inner = None;
                    Poll::Ready(Some(Err(timed_out(limit))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The pool as the store sees it: an executor whose every call is bounded by `limit`.
#[derive(Debug, Clone)]
pub struct TimedPool {
    pool: AnyPool,
    limit: Duration,
}

impl TimedPool {
    pub(super) fn new(pool: AnyPool, limit: Duration) -> Self {
        Self { pool, limit }
    }

    /// The unbounded pool (migrations, shutdown).
    pub(super) fn raw(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction (connection wait and `BEGIN` bounded) whose statements, commit and
    /// rollback are bounded too.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let tx = bounded(self.limit, self.pool.begin()).await?;
        Ok(Tx {
            conn: TxConn {
                tx,
                limit: self.limit,
            },
        })
    }
}

impl<'c> Executor<'c> for &'c TimedPool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        Bounded::boxed(self.pool.fetch_many(query), self.limit)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        bounded(self.limit, self.pool.fetch_optional(query))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        bounded(self.limit, self.pool.prepare_with(sql, parameters))
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        bounded(self.limit, self.pool.describe(sql))
    }
}

/// A transaction from `TimedPool::begin`. Statements run on `&mut *tx`; dropped without
/// `commit`, it rolls back.
#[derive(Debug)]
pub struct Tx {
    conn: TxConn,
}

/// The connection of a `Tx`, the executor of its statements.
#[derive(Debug)]
pub struct TxConn {
    tx: Transaction<'static, Any>,
    limit: Duration,
}

impl Tx {
    /// Commits, bounded by the limit.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let limit = self.conn.limit;
        bounded(limit, self.conn.tx.commit()).await
    }

    /// Rolls back, bounded by the limit.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let limit = self.conn.limit;
        bounded(limit, self.conn.tx.rollback()).await
    }
}

impl Deref for Tx {
    type Target = TxConn;
    fn deref(&self) -> &TxConn {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut TxConn {
        &mut self.conn
    }
}

impl TxConn {
    fn connection(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl<'c> Executor<'c> for &'c mut TxConn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let limit = self.limit;
        Bounded::boxed(self.connection().fetch_many(query), limit)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let limit = self.limit;
        bounded(limit, self.connection().fetch_optional(query))
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        let limit = self.limit;
        bounded(limit, self.connection().prepare_with(sql, parameters))
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        let limit = self.limit;
        bounded(limit, self.connection().describe(sql))
    }
}
