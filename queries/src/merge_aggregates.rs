//! An optimizer rule: an aggregate of an aggregate, where the outer one only re-adds,
//! re-mins or re-maxes what the inner one computed, becomes one aggregate.
//!
//! The views merge partial rows first (`machine_view` is a GROUP BY over every key
//! column), and dashboards then aggregate the view again: "the top 10 hosts by
//! `sum(count)`" groups `machine_view` by host. Summing per-(rule, window, host, key)
//! sums and then summing those per host is the same as summing per host at once, so
//!
//! ```sql
//! SELECT host, sum(count) FROM (SELECT rule, window_start, window_end, host, key,
//!        sum(count) AS count, ... FROM aggregates GROUP BY rule, window_start, window_end, host, key)
//! GROUP BY host
//! ```
//!
//! runs as `SELECT host, sum(count) FROM aggregates GROUP BY host`: one hash table keyed
//! by one column instead of two, the first keyed by five. On the dashboard benchmark's
//! top-10 query that is 16 → 7 ms (BENCHMARKS.md, "Dashboard queries").
//!
//! # Invariants
//! The rewrite applies only when the result cannot change:
//! - between the two aggregates there are only projections that pass columns through
//!   (renamed or not) and subquery aliases: no filter on an aggregated value, no
//!   computed column;
//! - the inner aggregate has plain GROUP BY expressions (no grouping sets);
//! - every outer grouping column is an inner grouping column, so each outer group is
//!   a union of whole inner groups;
//! - every outer aggregate is `sum`, `min` or `max` (DataFusion's own, recognised by
//!   type, not by name) of an inner aggregate of the same function, with no DISTINCT,
//!   FILTER or ORDER BY on either, and the merged aggregate has the outer one's type.
//!   `sum` of sums, `min` of mins and `max` of maxes equal the aggregate over the union;
//!   NULLs are skipped by both levels alike, and an all-NULL group gives NULL either way.
//! - the output keeps the outer aggregate's column names and qualifiers.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::functions_aggregate::min_max::{Max, Min};
use datafusion::functions_aggregate::sum::Sum;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// See the module docs.
#[derive(Debug, Default)]
pub struct MergeNestedAggregates;

impl OptimizerRule for MergeNestedAggregates {
    fn name(&self) -> &str {
        "logpulse_merge_nested_aggregates"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(outer) = &plan else { return Ok(Transformed::no(plan)) };
        match merged(outer)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// Which of the merged aggregate functions `f` is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mergeable {
    Sum,
    Min,
    Max,
}

fn mergeable(f: &AggregateFunction) -> Option<Mergeable> {
    let p = &f.params;
    if p.distinct || p.filter.is_some() || !p.order_by.is_empty() || p.args.len() != 1 {
        return None;
    }
    let function = f.func.inner();
    if function.is::<Sum>() {
        Some(Mergeable::Sum)
    } else if function.is::<Min>() {
        Some(Mergeable::Min)
    } else if function.is::<Max>() {
        Some(Mergeable::Max)
    } else {
        None
    }
}

/// The aggregate function inside `expr` (under any aliases).
fn aggregate_function(expr: &Expr) -> Option<&AggregateFunction> {
    match expr {
        Expr::AggregateFunction(f) => Some(f),
        Expr::Alias(alias) => aggregate_function(&alias.expr),
        _ => None,
    }
}

/// The one aggregate `outer` becomes, with a projection restoring its output names;
/// `None` when the module's conditions do not all hold.
fn merged(outer: &Aggregate) -> Result<Option<LogicalPlan>> {
    // Walk down to the inner aggregate through pass-through nodes, remembering them.
    let mut plan = outer.input.as_ref();
    let mut path: Vec<&LogicalPlan> = Vec::new();
    let inner = loop {
        match plan {
            LogicalPlan::Aggregate(inner) => break inner,
            LogicalPlan::Projection(Projection { expr, input, .. }) => {
                if !expr.iter().all(|e| matches!(e.clone().unalias(), Expr::Column(_))) {
                    return Ok(None);
                }
                path.push(plan);
                plan = input.as_ref();
            }
            LogicalPlan::SubqueryAlias(alias) => {
                path.push(plan);
                plan = alias.input.as_ref();
            }
            _ => return Ok(None),
        }
    };
    if inner.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(None);
    }
    // Column of each node on the way back up -> the position of the inner aggregate's
    // output column it stands for.
    let mut index: HashMap<Column, usize> =
        inner.schema.columns().into_iter().enumerate().map(|(i, c)| (c, i)).collect();
    for node in path.iter().rev() {
        let columns = node.schema().columns();
        index = match node {
            LogicalPlan::Projection(Projection { expr, .. }) => {
                let mut next = HashMap::new();
                for (out, e) in columns.into_iter().zip(expr) {
                    let Expr::Column(source) = e.clone().unalias() else { return Ok(None) };
                    let Some(&i) = index.get(&source) else { return Ok(None) };
                    next.insert(out, i);
                }
                next
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let below = alias.input.schema().columns();
                let mut next = HashMap::new();
                for (out, source) in columns.into_iter().zip(below) {
                    let Some(&i) = index.get(&source) else { return Ok(None) };
                    next.insert(out, i);
                }
                next
            }
            _ => return Ok(None),
        };
    }
    let groups = inner.group_expr.len();
    let mut group_expr = Vec::with_capacity(outer.group_expr.len());
    for e in &outer.group_expr {
        let Expr::Column(c) = e else { return Ok(None) };
        match index.get(c) {
            Some(&i) if i < groups => group_expr.push(inner.group_expr[i].clone()),
            _ => return Ok(None),
        }
    }
    let mut aggr_expr = Vec::with_capacity(outer.aggr_expr.len());
    for e in &outer.aggr_expr {
        let Some(outer_fn) = aggregate_function(e) else { return Ok(None) };
        let Some(kind) = mergeable(outer_fn) else { return Ok(None) };
        let Expr::Column(c) = &outer_fn.params.args[0] else { return Ok(None) };
        let Some(&i) = index.get(c) else { return Ok(None) };
        if i < groups {
            return Ok(None);
        }
        let Some(inner_fn) = aggregate_function(&inner.aggr_expr[i - groups]) else { return Ok(None) };
        if mergeable(inner_fn) != Some(kind) {
            return Ok(None);
        }
        aggr_expr.push(Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::clone(&outer_fn.func),
            inner_fn.params.args.clone(),
            false,
            None,
            vec![],
            None,
        )));
    }
    let merged = match Aggregate::try_new(Arc::clone(&inner.input), group_expr, aggr_expr) {
        Ok(merged) => merged,
        // E.g. two outer aggregates that become the same expression: leave it.
        Err(_) => return Ok(None),
    };
    if merged.schema.fields().len() != outer.schema.fields().len() {
        return Ok(None);
    }
    let mut restore = Vec::with_capacity(outer.schema.fields().len());
    for ((qualifier, field), column) in outer.schema.iter().zip(merged.schema.columns()) {
        let (_, new_field) = merged.schema.qualified_field_from_column(&column)?;
        if new_field.data_type() != field.data_type() {
            return Ok(None);
        }
        restore.push(Expr::Column(column).alias_qualified(qualifier.cloned(), field.name()));
    }
    let projection = Projection::try_new(restore, Arc::new(LogicalPlan::Aggregate(merged)))?;
    Ok(Some(LogicalPlan::Projection(projection)))
}
