//! Loading rule files: globs in, an [`engine::RuleSet`] out.

use std::path::PathBuf;

use anyhow::Context;
use engine::{RuleSet, SourceFile};

use crate::error::UsageError;

/// Expands each argument as a glob (a plain path is a glob matching itself) and reads the files, sorted.
pub fn read_rule_files(patterns: &[String]) -> anyhow::Result<Vec<SourceFile>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let matches: Vec<PathBuf> = glob::glob(pattern)
            .map_err(|e| UsageError(format!("bad rules pattern '{pattern}': {e}")))?
            .filter_map(Result::ok)
            .collect();
        if matches.is_empty() {
            return Err(UsageError(format!("no rule file matches '{pattern}'")).into());
        }
        paths.extend(matches);
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

pub fn load(patterns: &[String]) -> anyhow::Result<RuleSet> {
    let files = read_rule_files(patterns)?;
    Ok(engine::compile(&files)?)
}
