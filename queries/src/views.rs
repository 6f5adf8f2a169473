//! The views of DESIGN.md. `aggregates` rows are partial (one per producer partition),
//! so every view merges first: counts and sums add, min of min, max of max, and
//! `avg = sum / count` only after merging.
//!
//! - `machine_view`: per (rule, window, host, key).
//! - `sum_view`: per (rule, window), summed over hosts and keys; `hosts` is the number
//!   of distinct hosts with rows in the window.
//! - `avg_view`: per (rule, window), averaged over hosts: each host's rows (all its keys)
//!   are merged first, then `count`, `sum`, `min`, `max` and `avg` are the mean of the
//!   per-host values over the hosts that have rows in the window (a host with no rows
//!   in a window is not averaged in as a zero); `hosts` counts them.

/// `(name, defining query)`, in creation order.
pub const VIEWS: [(&str, &str); 3] = [
    (
        "machine_view",
        "SELECT rule, window_start, window_end, host, key,
                sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                sum(sum) / CAST(NULLIF(sum(count), 0) AS DOUBLE) AS avg
         FROM aggregates
         GROUP BY rule, window_start, window_end, host, key",
    ),
    (
        "sum_view",
        "SELECT rule, window_start, window_end,
                sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                sum(sum) / CAST(NULLIF(sum(count), 0) AS DOUBLE) AS avg,
                count(DISTINCT host) AS hosts
         FROM aggregates
         GROUP BY rule, window_start, window_end",
    ),
    (
        "avg_view",
        "SELECT rule, window_start, window_end,
                avg(CAST(count AS DOUBLE)) AS count, avg(sum) AS sum, avg(min) AS min, avg(max) AS max,
                avg(avg) AS avg, count(*) AS hosts
         FROM (SELECT rule, window_start, window_end, host,
                      sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                      sum(sum) / CAST(NULLIF(sum(count), 0) AS DOUBLE) AS avg
               FROM aggregates
               GROUP BY rule, window_start, window_end, host) AS per_host
         GROUP BY rule, window_start, window_end",
    ),
];
