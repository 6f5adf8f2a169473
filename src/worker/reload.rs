//! Hot reload of the rule files: on a change (the files are checked every
//! [`POLL`] and a change is applied once they have held still for one more check, so
//! an editor's save in several writes is one reload), on SIGHUP, and on
//! `POST /api/reload`.
//!
//! - The new rule set is compiled and checked on the caller's thread (the reload
//!   thread, or a blocking task of the HTTP server), never on a lane's: the sources
//!   must still have their streams, every `notify` name a notifier, every SQL alert a
//!   query that plans. Then it is put in force in one step ([`Shared::set_rules`]);
//!   each lane switches at its next tick ([`engine::Engine::reload`]: unchanged rules
//!   keep their windows, changed ones start at the next window boundary, removed ones
//!   flush), and the alert hub keeps the state of unchanged alerts.
//! - A reload that fails changes nothing: the error (`path:line:col: message`) is
//!   logged, counted (`logpulse_rule_reloads_total{outcome="error"}`) and shown in
//!   `/api/rules` as `reload_error` until a reload succeeds.
//! - One reload at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use engine::RuleSet;
use queries::QueryService;

use super::alerts::AlertHub;
use super::checks;
use super::config::LoadedConfig;
use super::lane::Shared;
use super::metrics::Metrics;

/// How often the rule files are checked for a change.
pub const POLL: Duration = Duration::from_secs(1);

/// See the module docs.
pub struct Reloader {
    /// The worker config: rule globs, and the sources whose streams must stay.
    pub loaded: Arc<LoadedConfig>,
    pub shared: Arc<Shared>,
    /// `None` in a worker that does not evaluate alerts (another worker of its data dir does).
    pub hub: Option<Arc<AlertHub>>,
    pub metrics: Arc<Metrics>,
    /// Names alerts may notify.
    pub notifier_names: Vec<String>,
    /// For checking SQL alerts and running them.
    pub queries: Arc<QueryService>,
    pub runtime: tokio::runtime::Handle,
    /// What `/api/rules` shows.
    pub view: RwLock<serde_json::Value>,
    /// The SQL alerts' tasks, restarted with each reload.
    pub sql_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// One reload at a time.
    pub busy: Mutex<()>,
}

impl Reloader {
    /// Reloads the rule files now; see the module docs.
    pub fn reload(&self, trigger: &str) -> Result<serde_json::Value, String> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        match self.compile_and_check() {
            Ok(rules) => {
                // The hub first: a lane that switches at once must find it on the new
                // generation (reloads are one at a time, so the number is this one's).
                let generation = self.shared.rules().0 + 1;
                if let Some(hub) = &self.hub {
                    hub.reload(Arc::clone(&rules), generation);
                }
                let set = self.shared.set_rules(Arc::clone(&rules));
                debug_assert_eq!(set, generation);
                self.restart_sql_alerts();
                let mut view = rules_json(&rules);
                view["generation"] = generation.into();
                *self.view.write().unwrap_or_else(|p| p.into_inner()) = view.clone();
                self.metrics.reloaded("ok");
                tracing::info!(trigger, generation, version = %view["version"], "rules reloaded");
                Ok(view)
            }
            Err(message) => {
                let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
                view["reload_error"] = message.clone().into();
                self.metrics.reloaded("error");
                tracing::error!(trigger, error = %message, "rule reload failed; the old rules stay in force");
                Err(message)
            }
        }
    }

    fn compile_and_check(&self) -> Result<Arc<RuleSet>, String> {
        let rules = crate::rules::load(&self.loaded.rule_globs).map_err(|e| format!("{e:#}"))?;
        checks::streams(&self.loaded, &rules).map_err(|e| e.to_string())?;
        checks::sources(&self.loaded, &rules).map_err(|e| format!("{e:#}"))?;
        checks::notifiers(&rules, &self.notifier_names, &self.loaded.file.path).map_err(|e| e.to_string())?;
        self.runtime.block_on(super::sql_alerts::check(&rules, &self.queries))?;
        Ok(Arc::new(rules))
    }

    /// (Re)starts one task per SQL alert of the rules in force.
    pub fn restart_sql_alerts(&self) {
        let mut tasks = self.sql_tasks.lock().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
        let Some(hub) = &self.hub else { return };
        let _inside = self.runtime.enter();
        *tasks = super::sql_alerts::spawn(hub, &self.queries, &self.metrics);
    }

    /// Stops the SQL alerts (shutdown).
    pub fn stop_sql_alerts(&self) {
        for task in self.sql_tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }

    /// Watches the rule files until `stop`: reloads when what the globs match, or
    /// any of it, changed and then held still for one more check.
    pub fn watch(self: Arc<Self>, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("rule-watch".into()).spawn(move || {
            let mut applied = self.fingerprint();
            let mut seen = applied.clone();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(POLL);
                let now = self.fingerprint();
                if now != applied && now == seen {
                    // Applied whether it worked or not: a broken file is reported once,
                    // and the next change is tried again.
                    let _ = self.reload("file change");
                    applied = now.clone();
                }
                seen = now;
            }
        })
    }

    /// The files the rule globs match, with their modification time and length.
    fn fingerprint(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let mut files: Vec<(PathBuf, Option<SystemTime>, u64)> = self
            .loaded
            .rule_globs
            .iter()
            .filter_map(|pattern| glob::glob(pattern).ok())
            .flatten()
            .filter_map(Result::ok)
            .map(|path| {
                let meta = std::fs::metadata(&path).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                (path, modified, meta.map_or(0, |m| m.len()))
            })
            .collect();
        files.sort();
        files
    }
}

/// The rule set as `/api/rules` shows it; `version` changes whenever a definition does.
pub fn rules_json(set: &engine::RuleSet) -> serde_json::Value {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for rule in &set.rules {
        rule.definition.hash(&mut hasher);
    }
    let streams: Vec<_> = set
        .streams
        .iter()
        .map(|s| serde_json::json!({ "name": s.name, "format": s.format.as_str(), "lateness_ms": s.lateness_ms }))
        .collect();
    let rules: Vec<_> = set
        .rules
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "stream": set.streams[r.stream].name,
                "window_ms": r.window.width_ms,
                "slide_ms": r.window.slide_ms,
                "value": r.value_label,
                "group_by": r.key_parts.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
                "definition": r.definition,
            })
        })
        .collect();
    let alerts: Vec<_> = set
        .alerts
        .iter()
        .map(|a| {
            let view = match a.view {
                engine::compile::AlertView::Machine => "machine",
                engine::compile::AlertView::Sum => "sum",
                engine::compile::AlertView::Avg => "avg",
            };
            let rule = a.kind.rule().map(|r| set.rules[r].name.as_str());
            serde_json::json!({ "name": a.name, "rule": rule, "view": view, "severity": a.severity })
        })
        .collect();
    serde_json::json!({ "version": format!("{:016x}", hasher.finish()), "streams": streams, "rules": rules, "alerts": alerts })
}
