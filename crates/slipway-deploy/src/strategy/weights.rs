//! Shares of requests as HAProxy server weights: with `c` servers of one set at weight `a` and
//! `s` of the other at `b`, weighted round robin sends `c·a / (c·a + s·b)` of the requests to
//! the first. Weights are integers from 0 to 256, so a share is exact only when that fraction
//! can be written with them; otherwise the closest pair is used (and the canary says so).

use slipway_lb::MAX_WEIGHT;

/// The HAProxy weights (of one canary server, of one stable server) that send `percent`% of
/// requests to `canary` servers and the rest to `stable` servers. Exact when weights of 0–256
/// allow it (the smallest such pair); otherwise the pair closest to `percent`. A share above 0
/// never leaves the canary at weight 0, nor one below 100 the stable servers.
pub fn split_weights(percent: u32, canary: usize, stable: usize) -> (u16, u16) {
    let p = u64::from(percent.min(100));
    if canary == 0 || p == 0 {
        return (0, 1);
    }
    if stable == 0 || p == 100 {
        return (1, 0);
    }
    let c = u64::try_from(canary).unwrap_or(u64::MAX);
    let s = u64::try_from(stable).unwrap_or(u64::MAX);
    let max = u64::from(MAX_WEIGHT);
    let mut best = (1, 1);
    let mut best_error = f64::INFINITY;
    for canary_weight in 1..=max {
        // The stable weight making the share exact for this canary weight, rounded.
        let numerator = canary_weight.saturating_mul(c).saturating_mul(100 - p);
        let denominator = p.saturating_mul(s);
        let stable_weight = (numerator.saturating_add(denominator / 2) / denominator).clamp(1, max);
        let (cw, sw) = (
            u16::try_from(canary_weight).unwrap_or(MAX_WEIGHT),
            u16::try_from(stable_weight).unwrap_or(MAX_WEIGHT),
        );
        let error = (canary_share(cw, sw, canary, stable) - p as f64).abs();
        if error < best_error {
            best = (cw, sw);
            best_error = error;
            if error < 1e-9 {
                break;
            }
        }
    }
    best
}

/// The percentage of requests `canary` servers at `canary_weight` get beside `stable` servers
/// at `stable_weight` (HAProxy's weighted round robin).
pub fn canary_share(canary_weight: u16, stable_weight: u16, canary: usize, stable: usize) -> f64 {
    let to_canary = f64::from(canary_weight) * canary as f64;
    let all = to_canary + f64::from(stable_weight) * stable as f64;
    if all == 0.0 {
        0.0
    } else {
        100.0 * to_canary / all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ends_send_everything_one_way() {
        assert_eq!(split_weights(0, 1, 2), (0, 1));
        assert_eq!(split_weights(100, 1, 2), (1, 0));
        assert_eq!(split_weights(150, 3, 2), (1, 0));
        assert_eq!(split_weights(40, 1, 0), (1, 0));
        assert_eq!(split_weights(40, 0, 3), (0, 1));
    }

    #[test]
    fn exact_shares_use_the_smallest_weights() {
        // 1 canary, 2 stable: 2 / (2 + 2 * 9) = 10%.
        assert_eq!(split_weights(10, 1, 2), (2, 9));
        assert_eq!(split_weights(50, 1, 2), (2, 1));
        assert_eq!(split_weights(50, 1, 1), (1, 1));
        assert_eq!(split_weights(25, 2, 2), (1, 3));
        assert_eq!(split_weights(1, 1, 1), (1, 99));
        assert_eq!(split_weights(99, 1, 1), (99, 1));
    }

    #[test]
    fn every_share_is_close_whatever_the_numbers_of_targets() {
        for canary in 1..=10 {
            for stable in 1..=30 {
                for percent in 0..=100u32 {
                    let (cw, sw) = split_weights(percent, canary, stable);
                    assert!(cw <= MAX_WEIGHT && sw <= MAX_WEIGHT);
                    let share = canary_share(cw, sw, canary, stable);
                    let error = (share - f64::from(percent)).abs();
                    // The weight ratio the share needs; beyond 1/256..256 HAProxy cannot go,
                    // and the extreme pair is the closest.
                    let p = f64::from(percent);
                    let ratio = p * stable as f64 / ((100.0 - p) * canary as f64);
                    let what = format!(
                        "{percent}% with {canary} canary and {stable} stable: weights {cw}/{sw} give {share:.2}%"
                    );
                    if percent == 0 || percent == 100 {
                        assert_eq!(error, 0.0, "{what}");
                    } else if ratio > 256.0 {
                        assert_eq!((cw, sw), (256, 1), "{what}");
                    } else if ratio < 1.0 / 256.0 {
                        assert_eq!((cw, sw), (1, 256), "{what}");
                    } else {
                        assert!(error <= 0.5, "{what}");
                    }
                    if percent > 0 {
                        assert!(cw > 0);
                    }
                    if percent < 100 {
                        assert!(sw > 0);
                    }
                }
            }
        }
    }

    #[test]
    fn shares_are_computed_as_weighted_round_robin_does() {
        assert_eq!(canary_share(2, 9, 1, 2), 10.0);
        assert_eq!(canary_share(0, 0, 1, 2), 0.0);
        assert_eq!(canary_share(1, 0, 1, 2), 100.0);
    }
}
