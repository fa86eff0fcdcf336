//! Paces the cleaner's disk traffic (Kafka's `log.cleaner.io.max.bytes.per.second`) and
//! stops it between chunks when the broker closes or the partition goes away.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct Throttle<'a> {
    /// Bytes per second; 0 or less is unthrottled.
    rate: f64,
    started: Instant,
    bytes: f64,
    stop: &'a dyn Fn() -> bool,
}

impl<'a> Throttle<'a> {
    pub fn new(rate: f64, stop: &'a dyn Fn() -> bool) -> Self {
        Throttle { rate, started: Instant::now(), bytes: 0.0, stop }
    }

    /// Counts `bytes` read or written, sleeping as long as the rate asks. Fails once the
    /// pass is told to stop, so it ends within one chunk of a close or a topic deletion.
    pub fn spend(&mut self, bytes: usize) -> Result<()> {
        self.check()?;
        self.bytes += bytes as f64;
        if self.rate > 0.0 {
            let due = Duration::from_secs_f64(self.bytes / self.rate);
            loop {
                let elapsed = self.started.elapsed();
                if elapsed >= due {
                    break;
                }
                std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
                self.check()?;
            }
        }
        Ok(())
    }

    pub fn check(&self) -> Result<()> {
        if (self.stop)() {
            return Err(Error::Closed);
        }
        Ok(())
    }
}
