//! A `mediator serve` process of a built binary on loopback, for tests of
//! what only the binary does (the site built into it, the environment it
//! reads, commands run beside a serving process).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{client, eventually};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `mediator serve`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl ServerProcess {
    /// `bin serve` in `cwd` on `data`: no sign-in, the EventBridge API and
    /// the simulator on free loopback ports, the log in `data/serve.log`,
    /// no `LEPTOS_*` site settings from the test's environment. The
    /// console's address is the caller's to give.
    pub fn command(bin: &Path, cwd: &Path, data: &Path) -> Command {
        std::fs::create_dir_all(data).unwrap();
        let log = std::fs::File::create(data.join("serve.log")).unwrap();
        let mut cmd = Command::new(bin);
        cmd.current_dir(cwd)
            .arg("serve")
            .args(["--events-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--sim-listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--data-dir")
            .arg(data)
            .args(["--auth", "none"])
            .env_remove("LEPTOS_SITE_ROOT")
            .env_remove("LEPTOS_SITE_ADDR")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        cmd
    }

    /// [`Self::command`] on a free port with `extra` arguments and `env`,
    /// started; waits until `/readyz` answers.
    pub async fn start(
        bin: &Path,
        cwd: &Path,
        data: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let port = free_port();
        let mut cmd = Self::command(bin, cwd, data);
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd, port).await
    }

    /// Starts `cmd` and waits until `/readyz` answers on `port`.
    pub async fn spawn(mut cmd: Command, port: u16) -> ServerProcess {
        let child = cmd.spawn().expect("start mediator");
        let me = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = client();
        eventually(60, "mediator did not come up", || async {
            match http.get(format!("{}/readyz", me.base)).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        me
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL (std's `kill` on Unix), then reaps the process.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
