//! What the worker checks of its config against a rule set, at start and at every
//! reload, before the rules take effect: a refused check leaves the rules in force.

use engine::compile::Decoder;
use engine::{RuleError, RuleErrors};

use super::config::{LoadedConfig, SourceConfig};
use crate::error::UsageError;

/// Checks the sources against the rule set: each must feed a stream that exists.
pub fn streams(loaded: &LoadedConfig, rules: &engine::RuleSet) -> Result<(), RuleErrors> {
    let names: Vec<&str> = rules.streams.iter().map(|s| s.name.as_str()).collect();
    let errors: Vec<RuleError> = loaded
        .config
        .sources
        .iter()
        .filter(|s| !names.contains(&s.get_ref().stream()))
        .map(|s| {
            loaded.file.error_in(
                s.span(),
                format!("source feeds unknown stream '{}' (streams: {})", s.get_ref().stream(), names.join(", ")),
            )
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(RuleErrors(errors)) }
}

/// Every source on a stream the rules define, and no Qalarm stream read from a file.
pub fn sources(loaded: &LoadedConfig, rules: &engine::RuleSet) -> Result<(), engine::RuleErrors> {
    for source in &loaded.config.sources {
        let Some(stream) = rules.streams.iter().find(|s| s.name == source.get_ref().stream()) else { continue };
        if !matches!(source.get_ref(), SourceConfig::Kafka(_)) && matches!(stream.decoder, Decoder::Qalarm) {
            let message = "Qalarm streams are read from Kafka (for a file, use `logpulse replay`)";
            return Err(engine::RuleErrors::from(loaded.file.error_in(source.span(), message)));
        }
    }
    Ok(())
}

/// Every name an alert notifies is a notifier.
pub fn notifiers(rules: &engine::RuleSet, known: &[String], config_path: &str) -> Result<(), UsageError> {
    for alert in &rules.alerts {
        if let Some(unknown) = alert.notify.iter().find(|n| !known.contains(n)) {
            return Err(UsageError(format!(
                "alert '{}' notifies '{unknown}', which no [[notifier]] in {config_path} names (known: {})",
                alert.name,
                known.join(", ")
            )));
        }
    }
    Ok(())
}
