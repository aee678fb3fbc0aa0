//! Shared by the live benchmarks (sign_live, nip46_live): percentiles and the table row.
#![allow(dead_code)]

/// The `p`th percentile (nearest rank) of sorted values; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints `name  n  p50  p99  mean  max` (ms); returns (p50, p99).
pub fn row(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    println!(
        "{name:<44} {:>5} {p50:>9.2} {p99:>9.2} {mean:>9.2} {:>9.2}",
        ms.len(),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    (p50, p99)
}

/// The header over [`row`]s.
pub fn header(first: &str) {
    println!(
        "{first:<44} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "n", "p50", "p99", "mean", "max"
    );
}
