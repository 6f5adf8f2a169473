//! Durable file-system steps, shared by the Parquet store and the checkpoints.
//!
//! Invariants:
//! - a file written by [`write_atomic`] is whole or absent: it is written under a
//!   temporary name, fsynced, renamed into place, and its folder fsynced, so a crash
//!   leaves the old content or the new, never a torn file;
//! - a folder made by [`create_dir_durable`] survives a crash once it returns: each
//!   new folder's entry is fsynced in its parent;
//! - [`exchange`] swaps two paths in one step, so a reader sees one or the other.

use std::fs::{self, File};
use std::path::Path;

use crate::error::SinkError;

/// Writes `path` atomically (see the module docs): `write` fills the file created at
/// `temp` (a sibling of `path`) and hands it back. `fault` names a fault point between
/// the fsync and the rename (crash tests).
pub fn write_atomic(
    temp: &Path,
    path: &Path,
    fault: Option<&str>,
    write: impl FnOnce(File) -> Result<File, SinkError>,
) -> Result<(), SinkError> {
    let file = File::create(temp).map_err(SinkError::io(temp))?;
    let file = write(file)?;
    file.sync_all().map_err(SinkError::io(temp))?;
    drop(file);
    if let Some(fault) = fault {
        crate::fault::point(fault);
    }
    fs::rename(temp, path).map_err(SinkError::io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// fsyncs a folder, so that the entries made or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(SinkError::io(dir))
}

/// `create_dir_all`, with each new folder's entry fsynced in its parent.
pub fn create_dir_durable(dir: &Path) -> Result<(), SinkError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(SinkError::Io { path: dir.into(), source: e }),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Swaps two paths in one step (Linux `renameat2` with `RENAME_EXCHANGE`).
pub fn exchange(a: &Path, b: &Path) -> Result<(), SinkError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| SinkError::Io { path: b.into(), source: e.into() })
}
