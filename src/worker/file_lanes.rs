//! File and stdin sources: one lane per followed path.
//!
//! A file lane's producer is `file-<path>`; its checkpoint holds the file's identity
//! and offset, so a restart resumes in the same file, or at the start of the file
//! that replaced it. Like Kafka sources, everything runs on the source's thread, so a
//! slow sink slows reading and nothing queues without bound.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sources::tail::FileTail;

use super::config::{FileSourceConfig, StdinSourceConfig};
use super::lane::{Lane, Origin, Record, Shared, Timing};
use super::status::SourceStatus;
use crate::machine::now_ms;

/// Bytes read from one file per pass, so that one busy file cannot starve the others
/// or the flush and checkpoint ticks.
const READ_BUDGET: usize = 4 << 20;

struct Followed {
    tail: FileTail,
    lane: Lane,
    path: String,
}

/// Follows the files matching `config.path` until `stop` (or, with `follow = false`,
/// until every file is read to its end).
pub fn run(
    shared: Arc<Shared>,
    config: FileSourceConfig,
    pattern: String,
    stream: String,
    timing: Timing,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let name = format!("file:{pattern}");
    let host = config.host.clone();
    let max_line = shared.rules().1.streams.iter().find(|s| s.name == stream).map_or(1 << 20, |s| s.max_line_bytes);
    let mut followed: BTreeMap<PathBuf, Followed> = BTreeMap::new();
    let mut next_scan = Instant::now();
    let mut next_flush = Instant::now() + timing.flush_interval;
    let mut next_checkpoint = Instant::now() + timing.checkpoint_interval;
    let mut buffer = Vec::new();
    status.connected.store(true, Ordering::Relaxed);

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if Instant::now() >= next_scan || !config.follow {
            for path in glob::glob(&pattern)?.filter_map(Result::ok).filter(|p| p.is_file()) {
                if followed.contains_key(&path) {
                    continue;
                }
                let shown = path.display().to_string();
                let lane = Lane::open(&shared, format!("file-{shown}"), &stream, now_ms())?;
                let resume = lane.file_identity.map(|id| (id, lane.file_offset));
                let tail = FileTail::new(&path, resume, max_line + 1);
                tracing::info!(path = %shown, resume = ?resume, "following file");
                followed.insert(path, Followed { tail, lane, path: shown });
            }
            shared.metrics.lanes(&name, followed.len());
            next_scan = Instant::now() + Duration::from_secs(2);
        }

        let mut read_any = false;
        for f in followed.values_mut() {
            buffer.clear();
            let outcome = f.tail.read(&mut buffer, READ_BUDGET)?;
            if outcome.switched {
                f.lane.line_number = 0;
                tracing::info!(path = %f.path, "file rotated or truncated; reading the new one from its start");
            }
            if !config.follow && f.tail.at_end()? {
                f.tail.drain_partial(&mut buffer);
            }
            f.lane.file_identity = f.tail.identity();
            f.lane.file_offset = f.tail.offset();
            if buffer.is_empty() {
                continue;
            }
            read_any = true;
            shared.metrics.read(&name, 1, buffer.len() as u64);
            let position = f.lane.position;
            let record = Record {
                origin: Origin::File { path: &f.path },
                position,
                next_position: position + buffer.len() as i64,
                payload: &buffer,
                host: host.as_deref(),
                time_ms: None,
            };
            f.lane.process(&shared, &record, now_ms());
            f.lane.close_due(&shared, now_ms());
        }

        let finished = !config.follow && !read_any;
        let now = Instant::now();
        if now >= next_flush || finished || stopping {
            let now_wall = now_ms();
            for f in followed.values_mut() {
                if finished {
                    f.lane.finish(&shared)?;
                }
                f.lane.tick(&shared, now_wall);
            }
            next_flush = now + timing.flush_interval;
        }
        if now >= next_checkpoint || finished || stopping {
            let wall = now_ms();
            for f in followed.values_mut() {
                f.lane.checkpoint(&shared, Some(wall), wall)?;
            }
            next_checkpoint = now + timing.checkpoint_interval;
        }
        if finished {
            tracing::info!(source = %name, "every file read to its end");
            for f in followed.values() {
                f.lane.finished(&shared);
            }
            return Ok(());
        }
        if stopping {
            return Ok(());
        }
        if !read_any {
            std::thread::sleep(config.poll_interval);
        }
    }
}

/// Reads stdin to its end (or until `stop`), then closes every window. Stdin cannot
/// be re-read, so it keeps no checkpoint position: its lane starts fresh each run.
pub fn run_stdin(
    shared: Arc<Shared>,
    config: StdinSourceConfig,
    stream: String,
    timing: Timing,
    status: Arc<SourceStatus>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut pending = Vec::new();
        loop {
            let mut chunk = vec![0u8; 1 << 20];
            match stdin.read(&mut chunk) {
                Ok(0) => {
                    if !pending.is_empty() {
                        pending.push(b'\n');
                        let _ = sender.send(Ok(std::mem::take(&mut pending)));
                    }
                    return;
                }
                Ok(n) => {
                    pending.extend_from_slice(&chunk[..n]);
                    if let Some(cut) = pending.iter().rposition(|&b| b == b'\n') {
                        let rest = pending.split_off(cut + 1);
                        if sender.send(Ok(std::mem::replace(&mut pending, rest))).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            }
        }
    })?;
    status.connected.store(true, Ordering::Relaxed);
    let mut lane = Lane::open(&shared, format!("stdin-{}", now_ms()), &stream, now_ms())?;
    let mut next_flush = Instant::now() + timing.flush_interval;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(chunk) => {
                let chunk = chunk?;
                shared.metrics.read("stdin", 1, chunk.len() as u64);
                let position = lane.position;
                let record = Record {
                    origin: Origin::File { path: "stdin" },
                    position,
                    next_position: position + chunk.len() as i64,
                    payload: &chunk,
                    host: config.host.as_deref(),
                    time_ms: None,
                };
                lane.process(&shared, &record, now_ms());
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                lane.finish(&shared)?;
                break;
            }
        }
        if Instant::now() >= next_flush {
            lane.tick(&shared, now_ms());
            next_flush = Instant::now() + timing.flush_interval;
        }
    }
    let wall = now_ms();
    lane.checkpoint(&shared, Some(wall), wall)?;
    lane.tick(&shared, wall);
    lane.finished(&shared);
    Ok(())
}
