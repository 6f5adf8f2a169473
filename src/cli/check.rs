//! `logpulse check RULES...`: validate and show the compiled rule set.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use engine::compile::{AlertKind, AlertView, Decoder};
use engine::matcher::{LiteralScanSummary, Strategy};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or globs.
    #[arg(required = true)]
    rules: Vec<String>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let set = crate::rules::load(&args.rules)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "streams: {}", set.streams.len())?;
    for stream in &set.streams {
        let decoder = match &stream.decoder {
            Decoder::Raw(_) => "raw lines".to_string(),
            Decoder::Nginx(_) => format!("nginx log_format with {} fields", stream.field_names.len()),
            Decoder::Json(_) => "JSON lines".to_string(),
            Decoder::Qalarm => "Qalarm MessagePack".to_string(),
        };
        writeln!(
            out,
            "  {} ({}): {decoder}; lateness {} ms, idle_timeout {} ms, max_line_bytes {}",
            stream.name,
            stream.format.as_str(),
            stream.lateness_ms,
            stream.idle_timeout_ms,
            stream.max_line_bytes
        )?;
        if !stream.field_names.is_empty() {
            writeln!(out, "    fields: {}", stream.field_names.join(", "))?;
        }
        let m = stream.matcher.summary();
        let scan = match m.literal_scan {
            None => "no literal scan".to_string(),
            Some(LiteralScanSummary { prefixed: Some((len, prefixes)), bytes }) => {
                format!(
                    "literal scan {bytes} B (SIMD search for {prefixes} distinct {len}-byte prefixes, then an anchored automaton)"
                )
            }
            Some(LiteralScanSummary { prefixed: None, bytes }) => {
                format!("literal scan {bytes} B (one overlapping automaton)")
            }
        };
        writeln!(
            out,
            "    matcher: {} patterns in one pass ({} exact literals, {} literal-prefiltered regexes, {} always-checked); {} distinct literals; memory: {scan}, always-checked automata {} B, per-pattern regexes {} B, {} shared checks at a prefix literal {} B, {} captures from match bounds {} B",
            m.patterns,
            m.exact_literal,
            m.verified,
            m.always,
            m.literals,
            m.fallback_bytes,
            m.regex_bytes,
            m.anchored_checks,
            m.anchored_check_bytes,
            m.framed_captures,
            m.framed_capture_bytes
        )?;
        for (pattern, &rule) in stream.pattern_rules.iter().enumerate() {
            let how = match stream.matcher.strategy(pattern) {
                Strategy::ExactLiteral => "literal",
                Strategy::LiteralThenVerify => "literal + verify",
                Strategy::PrefixThenVerify => "prefix literal + verify from it",
                Strategy::Always => "always checked",
            };
            writeln!(out, "      pattern {pattern}: rule {} ({how})", set.rules[rule].name)?;
        }
        if !stream.unconditional_rules.is_empty() {
            let names: Vec<&str> = stream.unconditional_rules.iter().map(|&r| set.rules[r].name.as_str()).collect();
            writeln!(out, "      every event: {}", names.join(", "))?;
        }
    }
    writeln!(out, "rules: {}", set.rules.len())?;
    for rule in &set.rules {
        let mut group: Vec<&str> = Vec::new();
        if rule.host_in_key {
            group.push("host");
        }
        group.extend(rule.key_parts.iter().map(|(n, _)| n.as_str()));
        let window = if rule.window.slide_ms == rule.window.width_ms {
            format!("tumbling {} ms", rule.window.width_ms)
        } else {
            format!("hopping {} ms every {} ms", rule.window.width_ms, rule.window.slide_ms)
        };
        writeln!(
            out,
            "  {} on {}: {window}; group_by [{}]{}{}{}",
            rule.name,
            set.streams[rule.stream].name,
            group.join(", "),
            if rule.value.is_some() { "; value" } else { "" },
            if rule.filter.is_some() { "; filter" } else { "" },
            if rule.count_repeats { "; count_repeats" } else { "" },
        )?;
    }
    writeln!(out, "alerts: {}", set.alerts.len())?;
    for alert in &set.alerts {
        let what = match &alert.kind {
            AlertKind::Threshold { rule, when_text, .. } => format!("{} when {when_text}", set.rules[*rule].name),
            AlertKind::Absent { rule } => format!("{} when absent", set.rules[*rule].name),
            AlertKind::Sql { every_ms, .. } => format!("sql every {every_ms} ms"),
        };
        let view = match alert.view {
            AlertView::Machine => "machine",
            AlertView::Sum => "sum",
            AlertView::Avg => "avg",
        };
        writeln!(
            out,
            "  {}: {what}; for {} windows; view {view}; severity {}; notify [{}]",
            alert.name,
            alert.for_windows,
            alert.severity,
            alert.notify.join(", ")
        )?;
    }
    writeln!(out, "ok")?;
    Ok(ExitCode::SUCCESS)
}
