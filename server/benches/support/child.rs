//! A `mediator serve` child process of a bench: its listeners' addresses,
//! stopped gracefully at the end of a run, killed if the run panics.

use std::process::Child;
use std::time::{Duration, Instant};

/// `N` free loopback addresses (`127.0.0.1:port`) for the server's listeners.
pub fn free_addrs<const N: usize>() -> [String; N] {
    std::array::from_fn(|_| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .to_string()
    })
}

/// The server under test; killed when dropped if it still runs (a
/// panicking run must not leave it behind).
pub struct ServerProcess(pub Child);

impl ServerProcess {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Stops it: SIGTERM (graceful), then SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
