//! `[[alert]]` validation. Evaluation lives with the alerting code; here an
//! alert is checked against the rule set and compiled to an [`AlertSpec`].

use std::collections::HashMap;

use super::compiler::Compiler;
use super::ids::RuleId;
use super::rule::Rule;
use crate::config::{AlertConfig, SourceFile};
use crate::duration::parse_duration_ms;
use crate::expr::{self, BoundExpr};

/// Variables of a `when` expression, by slot.
pub const WHEN_VARIABLES: [&str; 5] = ["count", "sum", "min", "max", "avg"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertView {
    /// Per group key (host and key).
    Machine,
    /// One series per rule, summed over hosts.
    Sum,
    /// One series per rule, averaged over hosts.
    Avg,
}

#[derive(Debug, Clone)]
pub enum AlertKind {
    /// `when` over the window's aggregates; slots follow [`WHEN_VARIABLES`].
    Threshold { rule: RuleId, when: BoundExpr, when_text: String },
    /// A key seen before had no data.
    Absent { rule: RuleId },
    /// A read-only query run every `every_ms`; each row fires.
    Sql { sql: String, every_ms: i64 },
}

impl AlertKind {
    /// The rule a rule alert watches; `None` for a SQL alert.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            AlertKind::Threshold { rule, .. } | AlertKind::Absent { rule } => Some(*rule),
            AlertKind::Sql { .. } => None,
        }
    }

    /// A SQL alert's query and its period in ms; `None` for a rule alert.
    pub fn sql(&self) -> Option<(&str, i64)> {
        match self {
            AlertKind::Sql { sql, every_ms } => Some((sql, *every_ms)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertSpec {
    pub name: String,
    pub kind: AlertKind,
    pub for_windows: u32,
    pub view: AlertView,
    pub severity: String,
    pub repeat_interval_ms: Option<i64>,
    pub max_notifications: Option<u32>,
    pub notify: Vec<String>,
    pub resolve: bool,
    pub message: Option<String>,
    pub forget_ms: i64,
    /// A stable text of the alert's definition, so a reload or a restore can tell a
    /// changed alert (whose state starts fresh) from an unchanged one.
    pub definition: String,
}

pub const DEFAULT_FORGET_MS: i64 = 24 * 3_600_000;

pub(super) fn compile_alert(
    c: &mut Compiler,
    file: &SourceFile,
    alert: &AlertConfig,
    rule_index: &HashMap<&str, RuleId>,
    rules: &[Rule],
) -> Option<AlertSpec> {
    let name = alert.name.get_ref().clone();
    let errors_before = c.errors.len();
    let kind = match (&alert.rule, &alert.sql) {
        (Some(_), Some(sql)) => {
            c.err(file, sql.span(), format!("alert '{name}': use either rule + when or sql + every, not both"));
            None
        }
        (None, None) => {
            c.err(file, alert.name.span(), format!("alert '{name}': needs rule + when, or sql + every"));
            None
        }
        (None, Some(sql)) => {
            if sql.get_ref().trim().is_empty() {
                c.err(file, sql.span(), format!("alert '{name}': sql is empty"));
            }
            if let Some(w) = &alert.when {
                c.err(
                    file,
                    w.span(),
                    format!("alert '{name}': `when` is for rule alerts; a sql alert fires on each row returned"),
                );
            }
            let every_ms = match &alert.every {
                None => {
                    c.err(file, sql.span(), format!("alert '{name}': a sql alert needs `every`"));
                    0
                }
                Some(e) => parse_duration_ms(e.get_ref(), false).unwrap_or_else(|m| {
                    c.err(file, e.span(), m);
                    0
                }),
            };
            Some(AlertKind::Sql { sql: sql.get_ref().clone(), every_ms })
        }
        (Some(rule_name), None) => {
            if let Some(e) = &alert.every {
                c.err(
                    file,
                    e.span(),
                    format!("alert '{name}': `every` is for sql alerts; rule alerts run when windows close"),
                );
            }
            let rule = match rule_index.get(rule_name.get_ref().as_str()) {
                Some(&r) => Some(r),
                None => {
                    c.err(file, rule_name.span(), format!("alert '{name}': unknown rule '{}'", rule_name.get_ref()));
                    None
                }
            };
            match &alert.when {
                None => {
                    c.err(file, alert.name.span(), format!("alert '{name}': needs `when`"));
                    None
                }
                Some(w) if w.get_ref().trim() == "absent" => rule.map(|rule| AlertKind::Absent { rule }),
                Some(w) => match expr::parse(w.get_ref()) {
                    Err(e) => {
                        c.errors.push(file.error_inside_string(
                            w.span(),
                            e.offset,
                            format!("alert '{name}': when: {}", e.message),
                        ));
                        None
                    }
                    Ok(parsed) => {
                        let has_value = rule.is_some_and(|r| rules[r].has_value());
                        let mut bad = None;
                        let bound = parsed.bind(|ident| {
                            let slot = WHEN_VARIABLES.iter().position(|v| *v == ident)?;
                            if slot > 0 && !has_value && bad.is_none() {
                                bad = Some(ident.to_string());
                            }
                            Some(slot)
                        });
                        match bound {
                            Err(e) => {
                                c.errors.push(file.error_inside_string(
                                    w.span(),
                                    e.offset,
                                    format!(
                                        "alert '{name}': when: {} (variables: count, sum, min, max, avg)",
                                        e.message
                                    ),
                                ));
                                None
                            }
                            Ok(_) if bad.is_some() && rule.is_some() => {
                                c.err(
                                    file,
                                    w.span(),
                                    format!(
                                        "alert '{name}': rule '{}' has no value, so only `count` is defined (not `{}`)",
                                        rule_name.get_ref(),
                                        bad.unwrap_or_default()
                                    ),
                                );
                                None
                            }
                            Ok(when) => {
                                rule.map(|rule| AlertKind::Threshold { rule, when, when_text: w.get_ref().clone() })
                            }
                        }
                    }
                },
            }
        }
    };

    let for_windows = match &alert.for_windows {
        None => 1,
        Some(f) if *f.get_ref() >= 1 && *f.get_ref() <= 100_000 => *f.get_ref() as u32,
        Some(f) => {
            c.err(file, f.span(), format!("alert '{name}': `for` must be between 1 and 100000 windows"));
            1
        }
    };
    let view = match alert.view.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("machine", _)) => AlertView::Machine,
        Some(("sum", _)) => AlertView::Sum,
        Some(("avg", _)) => AlertView::Avg,
        Some((other, span)) => {
            c.err(file, span, format!("alert '{name}': view '{other}' is not machine, sum or avg"));
            AlertView::Machine
        }
    };
    let repeat_interval_ms = alert.repeat_interval.as_ref().and_then(|r| match parse_duration_ms(r.get_ref(), false) {
        Ok(ms) => Some(ms),
        Err(m) => {
            c.err(file, r.span(), m);
            None
        }
    });
    let max_notifications = match &alert.max_notifications {
        None => None,
        Some(m) if *m.get_ref() >= 1 && *m.get_ref() <= u32::MAX as i64 => Some(*m.get_ref() as u32),
        Some(m) => {
            c.err(file, m.span(), format!("alert '{name}': max_notifications must be at least 1"));
            None
        }
    };
    let forget_ms = match &alert.forget {
        None => DEFAULT_FORGET_MS,
        Some(f) => parse_duration_ms(f.get_ref(), false).unwrap_or_else(|m| {
            c.err(file, f.span(), m);
            DEFAULT_FORGET_MS
        }),
    };
    let mut notify = Vec::new();
    if let Some(list) = &alert.notify {
        for n in list.get_ref() {
            if n.get_ref().is_empty() {
                c.err(file, n.span(), format!("alert '{name}': empty notifier name"));
            }
            notify.push(n.get_ref().clone());
        }
    }
    if notify.is_empty() {
        notify.push("log".to_string());
    }
    if c.errors.len() > errors_before {
        return None;
    }
    let definition = format!(
        "rule={:?} when={:?} sql={:?} every={:?} for={for_windows} view={view:?} repeat={repeat_interval_ms:?} max={max_notifications:?} forget={forget_ms} resolve={:?}",
        alert.rule.as_ref().map(|r| r.get_ref()),
        alert.when.as_ref().map(|w| w.get_ref().trim()),
        alert.sql.as_ref().map(|s| s.get_ref().trim()),
        alert.every.as_ref().map(|e| e.get_ref()),
        alert.resolve.as_ref().map(|r| *r.get_ref()),
    );
    Some(AlertSpec {
        name,
        definition,
        kind: kind?,
        for_windows,
        view,
        severity: alert.severity.as_ref().map_or_else(|| "warning".to_string(), |s| s.get_ref().clone()),
        repeat_interval_ms,
        max_notifications,
        notify,
        resolve: alert.resolve.as_ref().is_none_or(|r| *r.get_ref()),
        message: alert.message.as_ref().map(|m| m.get_ref().clone()),
        forget_ms,
    })
}
