//! Small statistics for the reports: percentiles and day buckets.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The `p`-th percentile (0–100) of `values` by linear interpolation between closest ranks (the method of
/// NumPy's default and of spreadsheet `PERCENTILE.INC`). `None` for no values. `values` need not be sorted.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// Rounds to one decimal place (report figures).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The UTC calendar days of the `days`-day range that ends today (`now`'s date), oldest first.
pub fn day_range(now: DateTime<Utc>, days: u32) -> Vec<NaiveDate> {
    let today = now.date_naive();
    (0..days as i64)
        .rev()
        .map(|back| today - Duration::days(back))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 4.0], 50.0), Some(2.5));
        assert_eq!(
            percentile(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90.0).map(round1),
            Some(9.1)
        );
        assert_eq!(percentile(&[1.0, 5.0], 100.0), Some(5.0));
    }

    #[test]
    fn days() {
        let now = crate::domain::time::parse_rfc3339("2026-11-22T13:00:00.000Z").unwrap();
        let d = day_range(now, 7);
        assert_eq!(d.len(), 7);
        assert_eq!(d[0].to_string(), "2026-11-16");
        assert_eq!(d[6].to_string(), "2026-11-22");
    }
}
