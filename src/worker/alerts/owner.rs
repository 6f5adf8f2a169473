//! Who evaluates a data dir's alerts: the one worker holding `checkpoints/alerts.lock`.

use std::fs;
use std::path::Path;

use anyhow::Context;

/// The exclusive right to evaluate and notify alerts for a data dir: an `flock` on
/// `checkpoints/alerts.lock`, held while this lives (the kernel drops it when the
/// process dies, however it dies).
pub struct AlertOwner {
    /// Closing it releases the lock.
    _lock: fs::File,
}

impl AlertOwner {
    /// The lock if no other live process holds it; `None` if one does.
    pub fn try_acquire(checkpoint_dir: &Path) -> anyhow::Result<Option<AlertOwner>> {
        let path = checkpoint_dir.join("alerts.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(AlertOwner { _lock: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("locking {}", path.display())),
        }
    }
}
