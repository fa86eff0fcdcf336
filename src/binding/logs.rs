//! The core's `tracing` events, queued for JS to drain into the user's `logCreator`:
//! recovery truncations, members removed after timeouts, topics created or deleted.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::{Mutex, Once};

use napi_derive::napi;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Oldest lines are dropped past this, so a process that never drains stays bounded.
const MAX_QUEUED: usize = 1000;

static QUEUE: Mutex<VecDeque<LogLine>> = Mutex::new(VecDeque::new());
static INSTALL: Once = Once::new();

#[napi(object)]
pub struct LogLine {
    /// kafkajs's numeric levels: 1 error, 2 warn, 4 info, 5 debug.
    pub level: u32,
    pub message: String,
    pub fields: String,
}

struct Queue;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, "{}{}={value:?}", if self.rest.is_empty() { "" } else { " " }, field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, "{}{}={value}", if self.rest.is_empty() { "" } else { " " }, field.name());
        }
    }
}

impl Subscriber for Queue {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match *event.metadata().level() {
            Level::ERROR => 1,
            Level::WARN => 2,
            Level::INFO => 4,
            _ => 5,
        };
        let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_QUEUED {
            q.pop_front();
        }
        q.push_back(LogLine { level, message: f.message, fields: f.rest });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the queue as the process's tracing subscriber (once).
pub fn install() {
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Queue);
    });
}

/// The core's log lines since the last call.
#[napi]
pub fn take_logs() -> Vec<LogLine> {
    QUEUE.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
}
