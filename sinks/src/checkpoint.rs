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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use engine::checkpoint::EngineSnapshot;
use serde::{Deserialize, Serialize};

use crate::durable::{self, create_dir_durable};
use crate::error::SinkError;
use crate::parquet::files::sanitize_producer;

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
/// never a torn file: a `.tmp` sibling, written with [`durable::write_atomic`]. `fault`
/// names a fault point between the fsync and the rename (crash tests).
pub fn write_atomic(path: &Path, bytes: &[u8], fault: Option<&str>) -> Result<(), SinkError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    durable::write_atomic(&temp, path, fault, |mut file| {
        file.write_all(bytes).map_err(SinkError::io(&temp))?;
        Ok(file)
    })
}

#[cfg(test)]
mod tests;
