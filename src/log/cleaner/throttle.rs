//! Paces the cleaner's disk traffic (Kafka's `log.cleaner.io.max.bytes.per.second`) and
//! stops it between chunks when the broker closes or the partition goes away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct Throttle<'a> {
    /// Bytes per second; 0 or less is unthrottled.
    rate: f64,
    started: Instant,
    bytes: f64,
    stop: &'a AtomicBool,
}

impl<'a> Throttle<'a> {
    pub fn new(rate: f64, stop: &'a AtomicBool) -> Self {
        Throttle { rate, started: Instant::now(), bytes: 0.0, stop }
    }

    /// Counts `bytes` read or written, sleeping as long as the rate asks. Fails once the
    /// stop flag is set, so a pass ends within one chunk of a close.
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
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}
