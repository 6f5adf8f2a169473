//! `checkpoints/alerts.ckpt`: the evaluator's state and the notifiers' outbox, saved
//! together and atomically (see the module docs of [`super`]).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine::alert::AlertSnapshot;
use serde::{Deserialize, Serialize};

use crate::worker::ledger::OutboxEntry;

/// Bumped when the layout changes; another version is refused, not misread.
pub const ALERT_CHECKPOINT_VERSION: u32 = 1;

/// `checkpoints/alerts.ckpt`: see the module docs.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertCheckpoint {
    pub version: u32,
    /// The evaluator's state, without windows waiting for their frontier.
    pub evaluator: AlertSnapshot,
    /// What the notifiers owed when it was taken.
    pub outbox: Vec<OutboxEntry>,
    pub written_at_ms: i64,
}

impl AlertCheckpoint {
    pub fn path(checkpoint_dir: &Path) -> PathBuf {
        checkpoint_dir.join("alerts.ckpt")
    }

    /// The last alert checkpoint; an unreadable one is an error (the operator decides,
    /// by deleting it), never silently replaced by a fresh state.
    pub fn load(checkpoint_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = Self::path(checkpoint_dir);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let checkpoint: Self = rmp_serde::from_slice(&bytes)
            .with_context(|| format!("{} is unreadable (delete it to start alerts afresh)", path.display()))?;
        anyhow::ensure!(
            checkpoint.version == ALERT_CHECKPOINT_VERSION,
            "{}: version {} is not {ALERT_CHECKPOINT_VERSION}",
            path.display(),
            checkpoint.version
        );
        Ok(Some(checkpoint))
    }

    pub fn save(&self, checkpoint_dir: &Path) -> anyhow::Result<()> {
        let bytes = rmp_serde::to_vec_named(self).context("encoding the alert checkpoint")?;
        sinks::write_atomic(&Self::path(checkpoint_dir), &bytes, None)?;
        Ok(())
    }
}
