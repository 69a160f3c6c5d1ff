//! Reading back what JSON cannot spell: serde_json writes NaN and the
//! infinities as `null`, so stored evidence (a release record) holds `null`
//! where a sample was NaN. These read `null` as NaN, so every record written
//! can be read again.

use serde::{Deserialize, Deserializer};

/// `[1.0, null]` → `[1.0, NaN]`.
pub fn vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(deserializer)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// `null` → NaN.
pub fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value: Option<f64> = Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or(f64::NAN))
}
