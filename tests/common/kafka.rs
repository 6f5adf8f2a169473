//! A real Kafka-protocol broker (tansu, sqlite storage) and `logpulse run` workers,
//! for the end-to-end tests. `scripts/install-test-deps.sh` installs tansu; a test
//! that cannot find it fails, it never skips.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn logpulse() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logpulse"))
}

fn tansu() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("tansu")).find(|p| p.is_file()));
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")).filter(|p| p.is_file());
    on_path.or(in_cargo).expect("tansu is not installed: run scripts/install-test-deps.sh (cargo install tansu --version 0.6.0 --locked --features libsql)")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tansu broker on a loopback port, with its data in a folder of its own.
pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let mut broker = Broker { port: free_port(), dir: dir.to_path_buf(), child: None };
        broker.launch();
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let storage = format!("sqlite:///{}", self.dir.join("tansu.db").display());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("broker.log")).unwrap();
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", &storage])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} (see {})",
                self.port,
                self.dir.join("broker.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &format!("tcp://{}", self.address()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "creating topic {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `logpulse produce` of a file.
    pub fn produce(&self, topic: &str, file: &Path, extra: &[&str]) {
        let out = Command::new(logpulse())
            .args(["produce", "-b", &self.address(), "-t", topic])
            .args(extra)
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "produce to {topic}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `logpulse run`.
pub struct Worker {
    child: Child,
    pub base: String,
    /// Everything the worker wrote on stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl Worker {
    /// Starts a worker on `config` (whose `[http] listen` should be port 0), with extra
    /// environment variables (`LOGPULSE_FAULT`).
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Worker {
        let mut command = Command::new(logpulse());
        command.args(["run", "-c"]).arg(config).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("starting logpulse run");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("logpulse: listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("worker did not start: {}", log.lock().unwrap());
            }
        };
        Worker { child, base, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `POST /api/sql?format=csv`; the rows, header first.
    pub fn sql_csv(&self, sql: &str) -> Result<String, String> {
        let response = ureq::post(&format!("{}/api/sql?format=csv", self.base)).send(sql);
        match response {
            Ok(mut r) => Ok(r.body_mut().read_to_string().unwrap()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent.get(&format!("{}{path}", self.base)).call().expect("GET");
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent.post(&format!("{}{path}", self.base)).send(body).expect("POST");
        let bytes = r.body_mut().read_to_vec().unwrap();
        (r.status().as_u16(), String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "worker did not stop on SIGTERM: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end by itself (a fault point), up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a whole reader to a string (for children's output).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}
