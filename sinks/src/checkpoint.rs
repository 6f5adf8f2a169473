//! Checkpoints: where an input lane stands, and the open windows that are in no table yet.
//!
//! One file per producer (a Kafka partition, a followed file) under
//! `<data_dir>/checkpoints/`, as MessagePack.
//!
//! Invariants:
//! - a checkpoint is written to a temp file, fsynced, renamed into place and its
//!   folder fsynced: after a crash there is the old checkpoint or the new one, never
//!   a torn one (fault point `checkpoint.before_rename` aborts between the fsync and
//!   the rename, for the crash tests);
//! - a checkpoint is taken only after every closed window of its lane up to it is in
//!   Parquet, so "the checkpoint's position" is the offset to commit to Kafka;
//! - a checkpoint that cannot be read is an error, never silently replaced by an
//!   empty state (that would recount or lose a partition's data): the operator
//!   decides, by deleting the file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use engine::checkpoint::EngineSnapshot;
use serde::{Deserialize, Serialize};

use crate::SinkError;
use crate::parquet::files::sanitize_producer;
use crate::parquet::{create_dir_durable, sync_dir};

/// Bumped when the layout changes; another version is refused, not misread.
pub const CHECKPOINT_VERSION: u32 = 1;

/// What one lane needs to carry on after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// The producer (lane) this belongs to, as in the Parquet file names.
    pub producer: String,
    /// The next input position to read: a Kafka offset, or for files the bytes read
    /// over all the files the path has named (so it grows across rotations).
    pub position: i64,
    /// For files: `(device, inode)` of the file being read, so that a rotated file is
    /// not resumed at the old file's offset...
    pub file_identity: Option<(u64, u64)>,
    /// ...and the byte offset in it.
    pub file_offset: u64,
    /// For files: lines read before `position` (for `file:line` in `ingest_errors`).
    pub line_number: u64,
    /// The high end (a window end, in unix ms) of the lane's last `aggregates` flush.
    pub aggregates_hi: i64,
    /// Wall-clock time of the checkpoint (unix ms), for the checkpoint-age gauge.
    pub written_at_ms: i64,
    /// Open windows and lane clocks.
    pub engine: EngineSnapshot,
}

/// The checkpoint files of one data dir.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    /// `<data_dir>/checkpoints`.
    dir: PathBuf,
}

impl CheckpointStore {
    pub fn open(data_dir: &Path) -> Result<Self, SinkError> {
        let dir = data_dir.join("checkpoints");
        create_dir_durable(&dir)?;
        // Temp files are checkpoints that never completed: the previous one stands.
        for entry in fs::read_dir(&dir).map_err(SinkError::io(&dir))? {
            let entry = entry.map_err(SinkError::io(&dir))?;
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let path = entry.path();
                fs::remove_file(&path).map_err(SinkError::io(&path))?;
            }
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, producer: &str) -> PathBuf {
        self.dir.join(format!("{}.ckpt", sanitize_producer(producer)))
    }

    /// The producer's last checkpoint, if it has one.
    pub fn load(&self, producer: &str) -> Result<Option<Checkpoint>, SinkError> {
        let path = self.path_of(producer);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SinkError::Io { path, source: e }),
        };
        let corrupt = |message: String| SinkError::Corrupt { path: path.clone(), message };
        let checkpoint: Checkpoint =
            rmp_serde::from_slice(&bytes).map_err(|e| corrupt(format!("unreadable checkpoint: {e}")))?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(corrupt(format!("checkpoint version {} is not {CHECKPOINT_VERSION}", checkpoint.version)));
        }
        if checkpoint.producer != producer {
            return Err(corrupt(format!("checkpoint of '{}' found for '{producer}'", checkpoint.producer)));
        }
        Ok(Some(checkpoint))
    }

    /// Replaces the producer's checkpoint atomically; returns the bytes written.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<usize, SinkError> {
        let path = self.path_of(&checkpoint.producer);
        let bytes = rmp_serde::to_vec_named(checkpoint).map_err(|e| SinkError::Corrupt {
            path: path.clone(),
            message: format!("cannot encode checkpoint: {e}"),
        })?;
        write_atomic(&path, &bytes, Some("checkpoint.before_rename"))?;
        Ok(bytes.len())
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old content or the new,
/// never a torn file: a `.tmp` sibling, fsynced, renamed into place, and the folder
/// fsynced. `fault` names a fault point between the fsync and the rename (crash tests).
pub fn write_atomic(path: &Path, bytes: &[u8], fault: Option<&str>) -> Result<(), SinkError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    let mut file = File::create(&temp).map_err(SinkError::io(&temp))?;
    file.write_all(bytes).map_err(SinkError::io(&temp))?;
    file.sync_all().map_err(SinkError::io(&temp))?;
    drop(file);
    if let Some(fault) = fault {
        crate::fault::point(fault);
    }
    fs::rename(&temp, path).map_err(SinkError::io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(producer: &str) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            producer: producer.into(),
            position: 42,
            file_identity: Some((1, 2)),
            file_offset: 40,
            line_number: 7,
            aggregates_hi: 1_700_000_060_000,
            written_at_ms: 1,
            engine: EngineSnapshot {
                version: engine::checkpoint::SNAPSHOT_VERSION,
                strings: vec![String::new(), "web-1".into()],
                rules: vec![engine::checkpoint::RuleSnapshot {
                    name: "r".into(),
                    definition: "d".into(),
                    closed_through: Some(60_000),
                    windows: vec![engine::checkpoint::WindowSnapshot {
                        start_ms: 60_000,
                        cells: vec![(1, 0, 3, 0.0, f64::INFINITY, f64::NEG_INFINITY)],
                    }],
                }],
                streams: vec![],
            },
        }
    }

    #[test]
    fn round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("kafka-t-0").unwrap(), None);
        let mut c = sample("kafka-t-0");
        store.save(&c).unwrap();
        assert_eq!(store.load("kafka-t-0").unwrap(), Some(c.clone()));
        c.position = 43;
        store.save(&c).unwrap();
        assert_eq!(store.load("kafka-t-0").unwrap().unwrap().position, 43);
    }

    #[test]
    fn a_torn_checkpoint_is_an_error_and_a_temp_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        fs::write(store.dir().join("kafka-t-1.ckpt"), b"\x93garbage").unwrap();
        fs::write(store.dir().join("kafka-t-2.ckpt.tmp"), b"half").unwrap();
        assert!(matches!(store.load("kafka-t-1"), Err(SinkError::Corrupt { .. })));
        let _ = CheckpointStore::open(dir.path()).unwrap();
        assert!(!store.dir().join("kafka-t-2.ckpt.tmp").exists());
    }
}
