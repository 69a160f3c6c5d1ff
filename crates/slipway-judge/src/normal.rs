//! The standard normal quantile function.
//!
//! Wichura's algorithm AS 241 (PPND16), the one R's `qnorm` uses: about 16
//! significant digits over the whole open interval (0, 1).

// The coefficients are AS 241's as published, digits beyond f64's included,
// so they can be compared with the paper.
#[allow(clippy::excessive_precision)]
/// The `p`-quantile of the standard normal distribution.
///
/// Returns negative infinity for `p == 0`, positive infinity for `p == 1` and
/// NaN outside [0, 1] or for NaN.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = ((((((r * 2_509.080_928_730_122_7 + 33_430.575_583_588_13) * r
            + 67_265.770_927_008_7)
            * r
            + 45_921.953_931_549_87)
            * r
            + 13_731.693_765_509_461)
            * r
            + 1_971.590_950_306_551_4)
            * r
            + 133.141_667_891_784_38)
            * r
            + 3.387_132_872_796_366_5;
        let den = ((((((r * 5_226.495_278_852_546 + 28_729.085_735_721_943) * r
            + 39_307.895_800_092_71)
            * r
            + 21_213.794_301_586_596)
            * r
            + 5_394.196_021_424_751)
            * r
            + 687.187_007_492_057_9)
            * r
            + 42.313_330_701_600_91)
            * r
            + 1.0;
        return q * num / den;
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let mut r = (-tail.ln()).sqrt();
    let value = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((r * 7.745_450_142_783_414e-4 + 0.022_723_844_989_269_184) * r
            + 0.241_780_725_177_450_6)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_545)
            * r
            + 1.423_437_110_749_683_5;
        let den = ((((((r * 1.050_750_071_644_416_8e-9 + 5.475_938_084_995_345e-4) * r
            + 0.015_198_666_563_616_457)
            * r
            + 0.148_103_976_427_480_07)
            * r
            + 0.689_767_334_985_1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_758_8)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((r * 2.010_334_399_292_288_1e-7 + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_9)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103;
        let den = ((((((r * 2.044_263_103_389_939_7e-15 + 1.421_511_758_316_446e-7) * r
            + 1.846_318_317_510_054_8e-5)
            * r
            + 7.868_691_311_456_133e-4)
            * r
            + 0.014_875_361_290_850_615)
            * r
            + 0.136_929_880_922_735_8)
            * r
            + 0.599_832_206_555_887_9)
            * r
            + 1.0;
        num / den
    };
    if q < 0.0 { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::normal_quantile;

    #[test]
    fn matches_r_qnorm_in_the_centre_and_both_tails() {
        // Values printed by R's qnorm with 17 digits.
        let cases = [
            (0.5, 0.0),
            (0.01, -2.326_347_874_040_840_8),
            (0.025, -1.959_963_984_540_054),
            (0.975, 1.959_963_984_540_054),
            (0.3, -0.524_400_512_708_040_7),
            (1e-10, -6.361_340_902_404_056),
        ];
        for (p, expected) in cases {
            let got = normal_quantile(p);
            assert!(
                (got - expected).abs() <= 1e-14 * expected.abs().max(1.0),
                "qnorm({p}) = {got}, expected {expected}"
            );
        }
    }

    #[test]
    fn is_nan_outside_the_unit_interval_and_infinite_at_its_ends() {
        assert!(normal_quantile(-0.1).is_nan());
        assert!(normal_quantile(1.5).is_nan());
        assert!(normal_quantile(f64::NAN).is_nan());
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
    }
}
