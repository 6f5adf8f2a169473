//! Following a file as `tail -F` does: through appends, truncation and rotation.
//!
//! Invariants:
//! - only whole lines are handed out: a line still being written (no `\n` yet) waits
//!   for its end, unless it outgrows `max_pending` (then it is handed out as is, and
//!   the line splitter downstream reports it as too long);
//! - a position is `(identity, offset)`: the file's `(device, inode)` and the byte
//!   offset after the last line handed out; a restart resumes there only if the path
//!   still names the same file, else (rotated away) it starts the new file at 0;
//! - rotation by rename: the old file is read to its end before the new one is
//!   opened, so no line written before the rotation is lost; a partial last line of
//!   the old file is handed out as it is;
//! - truncation (the file got shorter than the offset, as `copytruncate` does): read
//!   again from 0.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// `(device, inode)`.
pub type FileIdentity = (u64, u64);

/// One followed path.
#[derive(Debug)]
pub struct FileTail {
    path: PathBuf,
    /// The open file, once the path exists.
    file: Option<File>,
    identity: Option<FileIdentity>,
    /// Byte offset after the last line handed out.
    offset: u64,
    /// Bytes read past `offset`: the start of a line not yet ended.
    pending: Vec<u8>,
    /// Longest unfinished line kept before it is handed out anyway.
    max_pending: usize,
    /// Bumped at each switch to a new file (rotation, truncation), so the caller can
    /// number lines per file.
    generation: u64,
}

/// What one [`FileTail::read`] call found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Whole lines, `\n`-terminated (the last one may lack it at a rotation).
    pub bytes: usize,
    /// The position after them.
    pub offset: u64,
    /// Set when this call moved to a new file (rotated or truncated) before reading.
    pub switched: bool,
}

fn identity_of(meta: &std::fs::Metadata) -> FileIdentity {
    (meta.dev(), meta.ino())
}

impl FileTail {
    /// Follows `path`, resuming at `resume` if it still names that file.
    pub fn new(path: impl Into<PathBuf>, resume: Option<(FileIdentity, u64)>, max_pending: usize) -> Self {
        let mut tail = FileTail {
            path: path.into(),
            file: None,
            identity: None,
            offset: 0,
            pending: Vec::new(),
            max_pending,
            generation: 0,
        };
        if let Ok(file) = File::open(&tail.path)
            && let Ok(meta) = file.metadata()
        {
            let identity = identity_of(&meta);
            tail.identity = Some(identity);
            if let Some((saved, offset)) = resume
                && saved == identity
                && offset <= meta.len()
            {
                tail.offset = offset;
            }
            tail.file = Some(file);
        }
        tail
    }

    pub fn identity(&self) -> Option<FileIdentity> {
        self.identity
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many files this tail has moved on to (rotations and truncations): only tests ask.
    #[cfg(test)]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends to `out` the whole lines written since the last call (at most about
    /// `budget` bytes), handling truncation and rotation.
    pub fn read(&mut self, out: &mut Vec<u8>, budget: usize) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        if self.file.is_none() {
            self.reopen(&mut outcome)?;
        }
        let Some(file) = self.file.as_mut() else {
            outcome.offset = self.offset;
            return Ok(outcome);
        };
        let len = file.metadata()?.len();
        if len < self.offset + self.pending.len() as u64 {
            // Truncated in place: start over.
            self.offset = 0;
            self.pending.clear();
            self.generation += 1;
            outcome.switched = true;
        }
        let start = out.len();
        let got = self.read_lines(out, budget)?;
        if got == 0 && self.rotated()? {
            // The old file is read to its end (read_lines got 0): hand out a last line
            // without `\n`, then move to the new file.
            if !self.pending.is_empty() {
                out.append(&mut self.pending);
                out.push(b'\n');
            }
            self.reopen(&mut outcome)?;
            if self.file.is_some() {
                self.read_lines(out, budget)?;
            }
        }
        outcome.bytes = out.len() - start;
        outcome.offset = self.offset;
        Ok(outcome)
    }

    /// Reads from `offset + pending` and moves whole lines to `out`.
    fn read_lines(&mut self, out: &mut Vec<u8>, budget: usize) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else { return Ok(0) };
        file.seek(SeekFrom::Start(self.offset + self.pending.len() as u64))?;
        let mut moved = 0;
        let mut chunk = vec![0u8; 256 * 1024];
        while moved < budget {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.pending.extend_from_slice(&chunk[..n]);
            let cut = match memchr::memrchr(b'\n', &self.pending) {
                Some(i) => i + 1,
                None if self.pending.len() > self.max_pending => self.pending.len(),
                None => continue,
            };
            out.extend_from_slice(&self.pending[..cut]);
            self.pending.drain(..cut);
            self.offset += cut as u64;
            moved += cut;
        }
        Ok(moved)
    }

    /// Does the path now name another file (or none)?
    fn rotated(&self) -> io::Result<bool> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => Ok(Some(identity_of(&meta)) != self.identity),
            // Renamed away and not yet recreated: keep the old file until the new one appears.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn reopen(&mut self, outcome: &mut ReadOutcome) -> io::Result<()> {
        match File::open(&self.path) {
            Ok(file) => {
                let identity = identity_of(&file.metadata()?);
                if self.identity.is_some() {
                    self.generation += 1;
                    outcome.switched = true;
                }
                self.identity = Some(identity);
                self.file = Some(file);
                self.offset = 0;
                self.pending.clear();
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether everything in the file has been handed out (for `follow = false`).
    pub fn at_end(&self) -> io::Result<bool> {
        match &self.file {
            None => Ok(true),
            Some(f) => Ok(f.metadata()?.len() <= self.offset + self.pending.len() as u64),
        }
    }

    /// Hands out a last unterminated line (end of a finite input).
    pub fn drain_partial(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            self.offset += self.pending.len() as u64;
            out.append(&mut self.pending);
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests;
