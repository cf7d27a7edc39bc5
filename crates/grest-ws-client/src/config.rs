//! Client settings: timeouts, session limits, reconnect and logging.

use std::sync::Arc;
use std::time::Duration;

use grest_ws_session::{LogMode, SessionConfig};

use crate::ConnectError;

/// Client settings; each field names its default.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// How long to wait for the server's `k`/`x` after sending `h`. Default 5 s.
    pub handshake_timeout: Duration,
    /// Per-session limits (request timeout 30 s, …). Its heartbeat is used only while reconnect is on.
    pub session: SessionConfig,
    /// Reconnect after drops; `None` disables it (and the client heartbeat). Default on.
    pub reconnect: Option<ReconnectConfig>,
    /// How much the client logs through `tracing`. Default: failures only.
    pub log_mode: LogMode,
    /// How `wss://` connections check the server's certificate. Default: the web-PKI roots.
    #[cfg(feature = "tls")]
    pub tls: crate::TlsConfig,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("session", &self.session)
            .field("reconnect", &self.reconnect)
            .field("log_mode", &self.log_mode)
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            handshake_timeout: Duration::from_secs(5),
            session: SessionConfig::default(),
            reconnect: Some(ReconnectConfig::default()),
            log_mode: LogMode::NonOk,
            #[cfg(feature = "tls")]
            tls: crate::TlsConfig::default(),
        }
    }
}

impl ClientConfig {
    /// Sets how `wss://` connections check the server's certificate (see [`crate::TlsConfig`]).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the handshake timeout.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the per-session limits.
    #[must_use]
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }

    /// Sets the reconnect policy (`None` = no reconnect, no client heartbeat).
    #[must_use]
    pub fn reconnect(mut self, reconnect: Option<ReconnectConfig>) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the log mode.
    #[must_use]
    pub fn log_mode(mut self, mode: LogMode) -> Self {
        self.log_mode = mode;
        self
    }

    /// The session settings of one socket: the heartbeat rides on reconnect.
    pub(crate) fn socket_session(&self) -> SessionConfig {
        let heartbeat = self.reconnect.as_ref().and(self.session.heartbeat);
        self.session.clone().heartbeat(heartbeat)
    }
}

/// Decides whether a failed reconnect attempt is retried.
pub type ShouldRetry = Arc<dyn Fn(&ConnectError) -> bool + Send + Sync>;

/// Reconnect policy: exponential backoff with jitter, optional attempt limit, and which failures are terminal.
#[derive(Clone)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Delay before the first retry. Default 500 ms.
    pub initial_delay: Duration,
    /// Cap on the delay. Default 30 s.
    pub max_delay: Duration,
    /// Growth per attempt. Default 2.
    pub multiplier: f64,
    /// Consecutive failed attempts allowed; `None` = unlimited (default).
    pub max_attempts: Option<u32>,
    /// Randomize each delay (to between half and all of it) so clients do not reconnect in lockstep after a
    /// server restart. Default on.
    pub jitter: bool,
    /// Whether a failed attempt is retried. Default: [`ConnectError::is_terminal`] failures are not.
    pub should_retry: ShouldRetry,
}

impl std::fmt::Debug for ReconnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectConfig")
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("multiplier", &self.multiplier)
            .field("max_attempts", &self.max_attempts)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            max_attempts: None,
            jitter: true,
            should_retry: Arc::new(|error| !error.is_terminal()),
        }
    }
}

impl ReconnectConfig {
    /// Sets the first delay.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the delay cap.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the attempt limit.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the retry decision.
    #[must_use]
    pub fn should_retry(mut self, decide: impl Fn(&ConnectError) -> bool + Send + Sync + 'static) -> Self {
        self.should_retry = Arc::new(decide);
        self
    }

    /// The delay before attempt `attempt` (0-based): `min(initial · multiplier^attempt, max)`, jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial_delay.as_secs_f64() * self.multiplier.powi(attempt.min(64) as i32);
        let capped = base.min(self.max_delay.as_secs_f64());
        let factor = if self.jitter { 0.5 + 0.5 * random_unit() } else { 1.0 };
        Duration::from_secs_f64(capped * factor)
    }
}

/// A number in [0, 1) from std's randomly keyed hasher (no RNG dependency for one jitter draw).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delays double from 500 ms up to the 30 s cap; jitter keeps each between half and all of it.
    #[test]
    fn backoff_grows_caps_and_jitters() {
        let fixed = ReconnectConfig::default().jitter(false);
        let delays: Vec<u128> = (0..8).map(|k| fixed.delay(k).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        let jittered = ReconnectConfig::default();
        let samples: Vec<Duration> = (0..50).map(|_| jittered.delay(3)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= Duration::from_millis(2000) && *d <= Duration::from_millis(4000))
        );
        assert!(samples.iter().any(|d| *d != samples[0]), "jitter varies the delay");
    }
}
