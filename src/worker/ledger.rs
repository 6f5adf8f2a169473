//! The delivery ledger: which notifications each notifier has finished with, and
//! which it still owes. Together with the alert checkpoint it makes notifications
//! exactly-once across a crash.
//!
//! - `<data_dir>/checkpoints/delivered.log` holds one line per finished delivery,
//!   `notifier<TAB>id`, appended and fdatasync'ed after the notifier is done with it
//!   (delivered, or given up as a dead letter) and before the next one is taken. On
//!   start the ids in it are not sent again: a restart re-evaluates the windows after
//!   the alert checkpoint and so makes the same notifications (same ids) again.
//! - Notifications admitted but not finished are *in flight*; the alert checkpoint
//!   saves them (the outbox) and a restart queues them again.
//! - After an alert checkpoint, the log is cut down ([`Ledger::compact`]) to what a
//!   restart from that checkpoint could still meet: what was finished since its outbox
//!   was taken (that outbox may hold it), and anything for a window after the
//!   checkpoint's evaluation point of its rule (a restart makes those again). The
//!   rest is for windows the restored state will never evaluate again. So the log
//!   stays small.
//!
//! The remaining gap is the moment between a webhook's 2xx and the fsync of its line:
//! a crash there sends that one notification again after the restart, with the same
//! `idempotency-key` (DESIGN.md: duplicates suppressed by key count as sent once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
    path: PathBuf,
    inner: Mutex<LedgerInner>,
}

struct LedgerInner {
    /// Open for appending; replaced by [`Ledger::compact`].
    file: File,
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
        let inner = LedgerInner {
            file,
            finished,
            in_flight: BTreeMap::new(),
            in_flight_index: HashMap::new(),
            next_seq: 0,
            finished_since_outbox: Vec::new(),
        };
        Ok(Self { path, inner: Mutex::new(inner) })
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

    /// Records that `notifier` is done with these ids (delivered or dead-lettered),
    /// durably, with one fdatasync.
    pub fn finish(&self, notifier: &str, ids: &[&str]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut inner = self.inner();
        let finished: Vec<(DeliveryKey, DeliveryWindow)> = ids
            .iter()
            .map(|id| {
                let key = (notifier.to_string(), id.to_string());
                let window = match inner.in_flight_index.get(&key).and_then(|seq| inner.in_flight.get(seq)) {
                    Some(e) => (e.notification.alert.clone(), e.window_end_ms),
                    // Not admitted (cannot happen): kept until a compaction finds it.
                    None => (String::new(), i64::MAX),
                };
                (key, window)
            })
            .collect();
        let text: String = finished.iter().map(|(k, w)| line((k, w))).collect();
        inner.file.write_all(text.as_bytes()).with_context(|| format!("appending to {}", self.path.display()))?;
        inner.file.sync_data().with_context(|| format!("syncing {}", self.path.display()))?;
        for (key, window) in finished {
            if let Some(seq) = inner.in_flight_index.remove(&key) {
                inner.in_flight.remove(&seq);
            }
            inner.finished_since_outbox.push(key.clone());
            inner.finished.insert(key, window);
        }
        Ok(())
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
    pub fn compact(&self, remade: impl Fn(&str, i64) -> bool) -> anyhow::Result<()> {
        let mut inner = self.inner();
        let since: HashSet<&DeliveryKey> = inner.finished_since_outbox.iter().collect();
        let kept: HashMap<DeliveryKey, DeliveryWindow> = inner
            .finished
            .iter()
            .filter(|(key, (alert, end))| since.contains(key) || remade(alert, *end))
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        let temp = self.path.with_extension("log.tmp");
        let text: String = kept.iter().map(|(k, w)| line((k, w))).collect();
        let mut file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
        file.write_all(text.as_bytes()).with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", temp.display()))?;
        fs::rename(&temp, &self.path).with_context(|| format!("replacing {}", self.path.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
        }
        inner.file = open_append(&self.path)?;
        inner.finished = kept;
        Ok(())
    }

    #[cfg(test)]
    fn finished_count(&self) -> usize {
        self.inner().finished.len()
    }
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
mod tests {
    use super::*;

    fn note(id: &str, window_end_ms: i64) -> Notification {
        let mut note: Notification = serde_json::from_value(serde_json::json!({
            "id": id, "alert": "a", "rule": "r", "state": "firing", "host": "h", "key": "",
            "value": 1.0, "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:01:00Z",
            "severity": "warning", "message": "m",
        }))
        .unwrap();
        note.window_end_ms = window_end_ms;
        note
    }

    #[test]
    fn finished_ids_are_not_admitted_again_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.admit("hook", &note("a|1", 1)));
        assert!(!ledger.admit("hook", &note("a|1", 1)), "in flight already");
        assert!(ledger.admit("other", &note("a|1", 1)), "per notifier");
        ledger.finish("hook", &["a|1"]).unwrap();
        assert_eq!(ledger.outbox().len(), 1, "only other's is owed");
        drop(ledger);
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(!ledger.admit("hook", &note("a|1", 1)), "finished before the restart");
        assert!(ledger.admit("other", &note("a|1", 1)), "never finished");
    }

    #[test]
    fn compaction_keeps_what_a_restart_from_the_checkpoint_could_meet() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        for (id, end) in [("w", 10), ("x", 10), ("y", 20), ("z", 30)] {
            assert!(ledger.admit("hook", &note(id, end)));
        }
        ledger.finish("hook", &["w", "x"]).unwrap();
        let outbox = ledger.outbox();
        assert_eq!(outbox.iter().map(|e| e.notification.id.as_str()).collect::<Vec<_>>(), ["y", "z"]);
        ledger.finish("hook", &["y"]).unwrap();
        // The checkpoint evaluated through 15 except that `x`'s window is re-made.
        ledger.compact(|_, end| end > 15).unwrap();
        drop(ledger);
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.finished_count(), 1, "w is for a window the checkpoint evaluated and was not owed");
        assert!(!ledger.admit("hook", &note("y", 20)), "y was in the saved outbox and is done");
        assert!(ledger.admit("hook", &note("z", 30)), "z is still owed");

        // Finished before an outbox and for a window after the checkpoint: kept.
        ledger.finish("hook", &["z"]).unwrap();
        let _ = ledger.outbox();
        ledger.compact(|_, end| end > 25).unwrap();
        drop(ledger);
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(!ledger.admit("hook", &note("z", 30)), "a restart re-makes z; it must stay finished");
        assert!(ledger.admit("hook", &note("y", 20)), "y's window is before the checkpoint: forgotten");
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_odd_ids_survive() {
        let dir = tempfile::tempdir().unwrap();
        let odd = "a\tb\nc\"";
        let first = line((&("hook".to_string(), odd.to_string()), &("a".to_string(), 5)));
        std::fs::write(dir.path().join("delivered.log"), format!("{first}[\"hoo")).unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.finished_count(), 1);
        assert!(!ledger.admit("hook", &note(odd, 5)));
        assert!(ledger.admit("hook", &note("d", 6)));
        ledger.finish("hook", &["d"]).unwrap();
        drop(ledger);
        let text = fs::read_to_string(dir.path().join("delivered.log")).unwrap();
        assert_eq!(text, format!("{first}[\"hook\",\"d\",\"a\",6]\n"), "the torn line is gone");
    }
}
