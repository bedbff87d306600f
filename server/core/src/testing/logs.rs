//! Log capture for tests: a writer a `tracing_subscriber::fmt` subscriber
//! writes into, whose text the test reads afterwards (so a test asserts
//! what a request, a command or an AWS call logged, spans included).

use std::io;
use std::sync::{Arc, Mutex};

/// What a subscriber wrote; clones share the buffer.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// For `fmt().with_writer(…)`: each write goes to this buffer.
    pub fn writer(&self) -> impl Fn() -> CapturedLogs + Send + Sync + 'static {
        let logs = self.clone();
        move || logs.clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("captured logs")).into_owned()
    }

    /// The lines written so far that are JSON (a `fmt().json()` subscriber's).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("captured logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
