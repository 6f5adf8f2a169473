//! The rule set, and the order in which one compiles: every stream of every file
//! first (a rule in any file may count on a stream of any file), then every rule
//! (builtin packs expanded), then each stream's matcher over its rules' patterns,
//! then the alerts, which may watch any rule.
//!
//! Invariants:
//! - names are unique across all files: streams, rules (a pack's rules included) and
//!   alerts each have one namespace, and a repeated name is an error at the repeat;
//! - rule ids follow stream order, and within a stream the order the rules were
//!   written in, files in the order given: a rule set compiles the same way each time,
//!   so its rules' ids and its streams' matcher pattern numbers are stable.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::alert::{self, AlertSpec};
use super::compiler::{Compiler, name_ok};
use super::ids::{RuleId, StreamId};
use super::packs::default_group_by;
use super::rule::{Rule, RuleDraft};
use super::stream::{Stream, StreamDraft, StreamRules};
use crate::config::{RuleFileConfig, SourceFile};

/// Everything a rule set compiles to.
#[derive(Debug)]
pub struct RuleSet {
    pub streams: Vec<Stream>,
    pub rules: Vec<Rule>,
    pub alerts: Vec<AlertSpec>,
}

impl Compiler {
    pub(super) fn compile(&mut self, files: &[(&SourceFile, RuleFileConfig)]) -> RuleSet {
        // Streams first: rules in any file may refer to streams of any file.
        let mut drafts: Vec<StreamDraft> = Vec::new();
        let mut stream_ids: HashMap<String, StreamId> = HashMap::new();
        for (file, config) in files {
            for stream in &config.stream {
                let name = stream.name.get_ref();
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                {
                    self.err(file, stream.name.span(), format!("stream name '{name}' must be [A-Za-z0-9_.-]+"));
                }
                if stream_ids.contains_key(name) {
                    self.err(file, stream.name.span(), format!("duplicate stream name '{name}'"));
                    continue;
                }
                stream_ids.insert(name.clone(), drafts.len());
                drafts.push(self.stream_draft(file, stream));
            }
        }

        // One rule as written -> one or more drafts (builtin packs expand).
        let mut rule_drafts: Vec<RuleDraft> = Vec::new();
        let mut rule_names: HashSet<String> = HashSet::new();
        for (file, config) in files {
            for rule in &config.rule {
                let Some((stream_id, window)) = self.rule_target(file, rule, &stream_ids) else { continue };
                let stream = &mut drafts[stream_id];
                let expanded = match &rule.builtin {
                    Some(builtin) => self.builtin_drafts(file, rule, builtin, stream_id, window, stream),
                    None => {
                        let default_group = default_group_by(stream.config.format());
                        self.rule_draft(file, rule, stream_id, window, stream, &default_group).into_iter().collect()
                    }
                };
                for draft in expanded {
                    if !rule_names.insert(draft.name.clone()) {
                        self.err(file, rule.name.span(), format!("duplicate rule name '{}'", draft.name));
                        continue;
                    }
                    rule_drafts.push(draft);
                }
            }
        }

        // Streams with their matchers, rules in stream order.
        let mut streams = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut by_stream: BTreeMap<StreamId, Vec<RuleDraft>> = BTreeMap::new();
        for draft in rule_drafts {
            by_stream.entry(draft.rule.stream).or_default().push(draft);
        }
        for (stream_id, draft) in drafts.iter().enumerate() {
            let mut gathered = StreamRules::default();
            for mut rd in by_stream.remove(&stream_id).unwrap_or_default() {
                let id = rules.len();
                gathered.ids.push(id);
                if let Some((spec, span)) = rd.pattern.take() {
                    rd.rule.pattern = Some(gathered.specs.len());
                    gathered.specs.push(spec);
                    gathered.spans.push((rd.file, span, rd.name.clone()));
                    gathered.pattern_rules.push(id);
                } else {
                    gathered.unconditional.push(id);
                }
                rules.push(rd.rule);
            }
            streams.push(self.stream(draft, gathered));
        }

        let mut alerts = Vec::new();
        let mut alert_names = HashSet::new();
        let rule_index: HashMap<&str, RuleId> = rules.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
        for (file, config) in files {
            for alert in &config.alert {
                let name = alert.name.get_ref();
                if !name_ok(name) {
                    self.err(file, alert.name.span(), format!("alert name '{name}' must be [a-z0-9_]+"));
                }
                if !alert_names.insert(name.clone()) {
                    self.err(file, alert.name.span(), format!("duplicate alert name '{name}'"));
                    continue;
                }
                if let Some(spec) = alert::compile_alert(self, file, alert, &rule_index, &rules) {
                    alerts.push(spec);
                }
            }
        }
        RuleSet { streams, rules, alerts }
    }
}
