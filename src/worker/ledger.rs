//! The delivery ledger: which notifications each notifier has finished with, and
//! which it still owes. Together with the alert checkpoint it makes notifications
//! exactly-once across a crash.
//!
//! - `<data_dir>/checkpoints/delivered.log` holds one line per finished delivery
//!   (delivered, or given up as a dead letter). On start the ids in it are not sent
//!   again: a restart re-evaluates the windows after the alert checkpoint and so makes
//!   the same notifications (same ids) again.
//! - The file belongs to one thread (`ledger-sync`): notifiers hand it what they
//!   finished and go on to their next delivery; it appends everything handed over
//!   since its last round and fdatasyncs once (group commit), so a delivery never
//!   waits for a disk flush. Until that flush a finished notification still counts as
//!   in flight (not admitted again, and in the outbox).
//! - Notifications admitted but not finished are *in flight*; the alert checkpoint
//!   saves them (the outbox) and a restart queues them again.
//! - After an alert checkpoint, the log is cut down ([`Ledger::compact`]) to what a
//!   restart from that checkpoint could still meet: what was finished since its outbox
//!   was taken (that outbox may hold it), and anything for a window after the
//!   checkpoint's evaluation point of its rule (a restart makes those again). The
//!   rest is for windows the restored state will never evaluate again, or of SQL
//!   alerts (a run is never repeated) and alerts gone from the rules. So the log
//!   stays small.
//!
//! The remaining gap is the moment between a webhook's 2xx and the fsync of its line
//! (about one delivery, as the sync thread keeps up): a crash there sends those again
//! after the restart, with the same `idempotency-key` (DESIGN.md: duplicates
//! suppressed by key count as sent once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use anyhow::Context;
use engine::alert::Notification;
use serde::{Deserialize, Serialize};

/// A notification some notifier still owes, as the alert checkpoint saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub notifier: String,
    pub notification: Notification,
    /// Not in the notification's JSON, but needed to write a dead letter's row.
    pub window_start_ms: i64,
    pub window_end_ms: i64,
}

/// (notifier, id).
type DeliveryKey = (String, String);

/// What compaction needs to know of a finished delivery: (alert, window_end ms).
type DeliveryWindow = (String, i64);

/// See the module docs.
pub struct Ledger {
    inner: Arc<Mutex<LedgerInner>>,
    /// To the sync thread; taken by [`Ledger::close`].
    ops: Mutex<Option<(Sender<Op>, JoinHandle<()>)>>,
}

/// `remade(alert, window_end)`: whether a restart from the checkpoint makes it again.
type Remade = Box<dyn Fn(&str, i64) -> bool + Send>;

/// Work for the sync thread, in order.
enum Op {
    Finish(Vec<(DeliveryKey, DeliveryWindow)>),
    /// Rewrite the file (see [`Ledger::compact`]); the answer comes back.
    Compact(Remade, Sender<anyhow::Result<()>>),
    /// Answers once everything handed over before it is durable.
    #[cfg_attr(not(test), allow(dead_code))]
    Flush(Sender<()>),
}

struct LedgerInner {
    /// Everything in the file: not to be sent again.
    finished: HashMap<DeliveryKey, DeliveryWindow>,
    /// Admitted and not finished, by admission order (the outbox, in order).
    in_flight: BTreeMap<u64, OutboxEntry>,
    in_flight_index: HashMap<DeliveryKey, u64>,
    next_seq: u64,
    /// Finished since the last [`Ledger::outbox`], for [`Ledger::compact`].
    finished_since_outbox: Vec<DeliveryKey>,
}

impl Ledger {
    /// Opens (or creates) `<dir>/delivered.log`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("delivered.log");
        let mut finished = HashMap::new();
        match fs::read(&path) {
            Ok(bytes) => {
                // A torn last line (a crash mid-append) was never acknowledged: cut it
                // off, or the next append would be glued to it.
                let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if whole < bytes.len() {
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(whole as u64)?;
                    file.sync_all()?;
                }
                for line in String::from_utf8_lossy(&bytes[..whole]).lines() {
                    if let Ok((notifier, id, alert, window_end)) = serde_json::from_str(line) {
                        finished.insert((notifier, id), (alert, window_end));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let file = open_append(&path)?;
        let inner = Arc::new(Mutex::new(LedgerInner {
            finished,
            in_flight: BTreeMap::new(),
            in_flight_index: HashMap::new(),
            next_seq: 0,
            finished_since_outbox: Vec::new(),
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&inner);
        let thread =
            std::thread::Builder::new().name("ledger-sync".into()).spawn(move || sync_loop(path, file, rx, &shared))?;
        Ok(Self { inner, ops: Mutex::new(Some((tx, thread))) })
    }

    fn send(&self, op: Op) -> bool {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        ops.as_ref().is_some_and(|(tx, _)| tx.send(op).is_ok())
    }

    /// Waits until everything finished so far is durable.
    #[cfg(test)]
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.send(Op::Flush(tx)) {
            let _ = rx.recv();
        }
    }

    /// Makes everything finished durable and stops the sync thread.
    pub fn close(&self) {
        let taken = self.ops.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, thread)) = taken {
            drop(tx);
            let _ = thread.join();
        }
    }

    fn inner(&self) -> MutexGuard<'_, LedgerInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a notification for `notifier` unless it was finished or is in flight
    /// already (then it is a re-made duplicate: `false`).
    pub fn admit(&self, notifier: &str, note: &Notification) -> bool {
        let key = (notifier.to_string(), note.id.clone());
        let mut inner = self.inner();
        if inner.finished.contains_key(&key) || inner.in_flight_index.contains_key(&key) {
            return false;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.in_flight.insert(
            seq,
            OutboxEntry {
                notifier: notifier.to_string(),
                notification: note.clone(),
                window_start_ms: note.window_start_ms,
                window_end_ms: note.window_end_ms,
            },
        );
        inner.in_flight_index.insert(key, seq);
        true
    }

    /// Records that `notifier` is done with these ids (delivered or dead-lettered).
    /// Returns at once; the sync thread makes it durable (see the module docs).
    pub fn finish(&self, notifier: &str, ids: &[&str]) {
        if ids.is_empty() {
            return;
        }
        let finished: Vec<(DeliveryKey, DeliveryWindow)> = {
            let inner = self.inner();
            ids.iter()
                .map(|id| {
                    let key = (notifier.to_string(), id.to_string());
                    let window = match inner.in_flight_index.get(&key).and_then(|seq| inner.in_flight.get(seq)) {
                        Some(e) => (e.notification.alert.clone(), e.window_end_ms),
                        // Not admitted (cannot happen): kept until a compaction finds it.
                        None => (String::new(), i64::MAX),
                    };
                    (key, window)
                })
                .collect()
        };
        self.send(Op::Finish(finished));
    }

    /// What is owed, in admission order, for the alert checkpoint; starts the record
    /// of what is finished from now on, for [`Ledger::compact`].
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let mut inner = self.inner();
        inner.finished_since_outbox.clear();
        inner.in_flight.values().cloned().collect()
    }

    /// Once a checkpoint with the last [`Ledger::outbox`] is durable: keeps what was
    /// finished since, and what `remade(alert, window_end)` says a restart from it
    /// would make again (see the module docs). Atomic: a crash leaves the old file or
    /// the new one.
    pub fn compact(&self, remade: impl Fn(&str, i64) -> bool + Send + 'static) -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        if !self.send(Op::Compact(Box::new(remade), tx)) {
            return Ok(());
        }
        rx.recv().unwrap_or(Ok(()))
    }

    #[cfg(test)]
    fn finished_count(&self) -> usize {
        self.inner().finished.len()
    }
}

/// The sync thread: appends what notifiers finished, one fdatasync per round.
fn sync_loop(path: PathBuf, mut file: File, ops: Receiver<Op>, inner: &Mutex<LedgerInner>) {
    let lock = || inner.lock().unwrap_or_else(|p| p.into_inner());
    let mut next = ops.recv().ok();
    while let Some(op) = next.take() {
        match op {
            Op::Finish(first) => {
                let mut batch = first;
                // Everything already handed over goes in this round.
                loop {
                    match ops.try_recv() {
                        Ok(Op::Finish(more)) => batch.extend(more),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let text: String = batch.iter().map(|(k, w)| line((k, w))).collect();
                let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_data());
                if let Err(e) = written {
                    // Logged; the deliveries stand, and at worst a restart sends them again.
                    tracing::error!(path = %path.display(), error = %e, "recording deliveries failed");
                }
                let mut inner = lock();
                for (key, window) in batch {
                    if let Some(seq) = inner.in_flight_index.remove(&key) {
                        inner.in_flight.remove(&seq);
                    }
                    inner.finished_since_outbox.push(key.clone());
                    inner.finished.insert(key, window);
                }
            }
            Op::Compact(remade, answer) => {
                let result = compact_file(&path, &mut file, &mut lock(), remade.as_ref());
                let _ = answer.send(result);
            }
            Op::Flush(answer) => {
                let _ = answer.send(());
            }
        }
        if next.is_none() {
            next = ops.recv().ok();
        }
    }
}

fn compact_file(
    path: &Path,
    file: &mut File,
    inner: &mut LedgerInner,
    remade: &dyn Fn(&str, i64) -> bool,
) -> anyhow::Result<()> {
    let since: HashSet<&DeliveryKey> = inner.finished_since_outbox.iter().collect();
    let kept: HashMap<DeliveryKey, DeliveryWindow> = inner
        .finished
        .iter()
        .filter(|(key, (alert, end))| since.contains(key) || remade(alert, *end))
        .map(|(k, w)| (k.clone(), w.clone()))
        .collect();
    let text: String = kept.iter().map(|(k, w)| line((k, w))).collect();
    sinks::write_atomic(path, text.as_bytes(), None)?;
    *file = open_append(path)?;
    inner.finished = kept;
    Ok(())
}

/// One finished delivery: `["notifier","id","alert",window_end_ms]` (JSON, since a key
/// taken from input may hold any character).
fn line((key, window): (&DeliveryKey, &DeliveryWindow)) -> String {
    let mut text = serde_json::json!([key.0, key.1, window.0, window.1]).to_string();
    text.push('\n');
    text
}

fn open_append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests;
