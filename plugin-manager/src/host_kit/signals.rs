//! Waiting for the signal to shut down.
//!
//! On unix a host shuts down gracefully on `SIGINT` (Ctrl-C), `SIGTERM` (what service
//! managers and `kill` send) and `SIGHUP` (its terminal went away). `SIGHUP` is taken as a
//! shutdown rather than as "reload the configuration", because the kit reloads the file by
//! watching it. Elsewhere, Ctrl-C.
//!
//! Once a signal is handled here, its default action (ending the process at once) is off for
//! the rest of the process's life: a second Ctrl-C during shutdown does not cut it short;
//! the shutdown deadline bounds it instead.

use std::fmt;

/// Which signal asked for the shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownSignal {
    /// Ctrl-C (`SIGINT` on unix).
    Interrupt,
    /// `SIGTERM`.
    Terminate,
    /// `SIGHUP`.
    Hangup,
}

impl fmt::Display for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownSignal::Interrupt => "interrupt",
            ShutdownSignal::Terminate => "terminate",
            ShutdownSignal::Hangup => "hangup",
        })
    }
}

/// The shutdown signals, listened to from the moment this is created: a signal that comes
/// before [`ShutdownSignals::recv`] is awaited is not lost.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use plugin_manager::host_kit::ShutdownSignals;
///
/// let mut signals = ShutdownSignals::new()?;
/// let signal = signals.recv().await;
/// eprintln!("shutting down on {signal}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Starts listening. Fails only if the process cannot install signal handlers. Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of installing a signal handler.
    pub fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next shutdown signal. Cancel-safe.
    pub async fn recv(&mut self) -> ShutdownSignal {
        #[cfg(unix)]
        {
            // `recv` returns `None` only if the runtime's signal driver is gone; then no
            // signal can come any more, and waiting on is the honest answer.
            tokio::select! {
                Some(()) = self.interrupt.recv() => ShutdownSignal::Interrupt,
                Some(()) = self.terminate.recv() => ShutdownSignal::Terminate,
                Some(()) = self.hangup.recv() => ShutdownSignal::Hangup,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => ShutdownSignal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Resolves on the first shutdown signal (see the [module](self) for which).
///
/// If the handlers cannot be installed, the error is logged and the future never resolves:
/// the host then runs until its other end (its input closing, say), as it would without
/// signals.
///
/// ```no_run
/// # async fn example() {
/// plugin_manager::host_kit::shutdown_signal().await;
/// # }
/// ```
pub async fn shutdown_signal() -> ShutdownSignal {
    match ShutdownSignals::new() {
        Ok(mut signals) => signals.recv().await,
        Err(error) => {
            tracing::error!(%error, "cannot listen for shutdown signals");
            std::future::pending().await
        }
    }
}
