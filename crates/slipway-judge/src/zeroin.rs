//! Brent's root finder exactly as R's `uniroot` runs it (`R_zeroin2` in
//! R's `src/library/stats/src/zeroin.c`).
//!
//! The Wilcoxon statistic shifted by `d` is a step function, so any point in
//! the step where it changes sign is "a root". Which one is returned depends
//! on the iteration itself; following R's iteration step by step makes the
//! interval and the estimate agree with `wilcox.test` to the last digits
//! instead of only to the solver's tolerance.

/// Why the search stopped without a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroinError {
    /// The function has the same sign at both ends of the interval.
    NoSignChange,
    /// The iteration limit was reached.
    TooManyIterations,
    /// The function returned NaN (or failed) inside the interval.
    NotANumber,
}

/// Finds a root of `f` in `[a, b]`, given `fa = f(a)` and `fb = f(b)` of
/// opposite signs (or one of them zero), to within `tol`.
///
/// `f` may fail (return `None`); the search stops with `NotANumber` then.
pub fn zeroin(
    a: f64,
    b: f64,
    fa: f64,
    fb: f64,
    mut f: impl FnMut(f64) -> Option<f64>,
    tol: f64,
    max_iterations: u32,
) -> Result<f64, ZeroinError> {
    if fa.is_nan() || fb.is_nan() {
        return Err(ZeroinError::NotANumber);
    }
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    if (fa > 0.0) == (fb > 0.0) {
        return Err(ZeroinError::NoSignChange);
    }
    let (mut a, mut b, mut fa, mut fb) = (a, b, fa, fb);
    let (mut c, mut fc) = (a, fa);
    for _ in 0..=max_iterations {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            // Make b the best approximation so far.
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return Ok(b);
        }
        // Try interpolation when the previous step was large enough and
        // went in the right direction.
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                // Only two distinct points: linear interpolation.
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                // Inverse quadratic interpolation.
                let qa = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1.0));
                q = (qa - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < 0.75 * cb * q - (tol_act * q).abs() / 2.0 && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b).ok_or(ZeroinError::NotANumber)?;
        if fb.is_nan() {
            return Err(ZeroinError::NotANumber);
        }
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    Err(ZeroinError::TooManyIterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_square_root_of_two() {
        let f = |x: f64| Some(x * x - 2.0);
        let root = zeroin(0.0, 2.0, -2.0, 2.0, f, 1e-12, 1000);
        assert!(
            matches!(root, Ok(r) if (r - 2f64.sqrt()).abs() < 1e-11),
            "{root:?}"
        );
    }

    #[test]
    fn refuses_an_interval_without_a_sign_change() {
        let f = |x: f64| Some(x * x + 1.0);
        assert_eq!(
            zeroin(-1.0, 1.0, 2.0, 2.0, f, 1e-6, 100),
            Err(ZeroinError::NoSignChange)
        );
    }

    #[test]
    fn returns_an_end_point_that_is_a_root() {
        let f = |_: f64| None;
        assert_eq!(zeroin(3.0, 4.0, 0.0, 1.0, f, 1e-6, 100), Ok(3.0));
    }
}
