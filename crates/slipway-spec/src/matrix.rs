//! Matrix expansion with the semantics of GitHub Actions.

use serde_json::Value;

use crate::model::{Matrix, MatrixEntry};

/// Most job instances one matrix may produce (the limit GitHub Actions applies).
pub const MAX_COMBINATIONS: usize = 256;
/// Most combinations the cartesian product may have before `exclude` is applied, so that a
/// matrix of many large axes is refused before anything is allocated.
pub const MAX_PRODUCT: usize = 16 * MAX_COMBINATIONS;

/// Why a matrix cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// The cartesian product of the axes is larger than the expansion will build (`MAX_PRODUCT`).
    ProductTooLarge(Option<usize>),
    /// The expansion yields more than [`MAX_COMBINATIONS`] combinations.
    TooManyCombinations(usize),
}

impl Matrix {
    /// Expands the matrix into its combinations, as GitHub Actions does:
    ///
    /// 1. the cartesian product of the axes, first axis outermost;
    /// 2. `exclude` removes every combination that matches all keys of an entry;
    /// 3. each `include` entry is added to every remaining original combination whose original
    ///    axis values it does not contradict (keys added by an earlier include may be
    ///    overwritten, axis values never); an entry added to none becomes a new combination.
    ///
    /// A validated matrix never exceeds [`MAX_COMBINATIONS`]; if an unvalidated one does, the
    /// result is truncated to that many.
    pub fn expand(&self) -> Vec<MatrixEntry> {
        match self.try_expand() {
            Ok(combinations) => combinations,
            Err(_) => self.expand_bounded(MAX_COMBINATIONS),
        }
    }

    /// Like [`Matrix::expand`], but reports a matrix that is too large.
    pub fn try_expand(&self) -> Result<Vec<MatrixEntry>, ExpandError> {
        let product = self
            .axes
            .iter()
            .try_fold(1usize, |acc, (_, values)| acc.checked_mul(values.len()));
        match product {
            Some(n) if n <= MAX_PRODUCT => {}
            other => return Err(ExpandError::ProductTooLarge(other)),
        }
        let combinations = self.expand_bounded(MAX_PRODUCT + self.include.len());
        if combinations.len() > MAX_COMBINATIONS {
            return Err(ExpandError::TooManyCombinations(combinations.len()));
        }
        Ok(combinations)
    }

    fn expand_bounded(&self, limit: usize) -> Vec<MatrixEntry> {
        let mut originals = self.product(limit);
        originals.retain(|combination| {
            !self
                .exclude
                .iter()
                .any(|entry| matches_all(combination, entry))
        });
        let original_len = originals.len();
        let mut result = originals;
        for entry in &self.include {
            let mut added = false;
            for combination in result.iter_mut().take(original_len) {
                if self.compatible(combination, entry) {
                    for (key, value) in entry {
                        set(combination, key, value);
                    }
                    added = true;
                }
            }
            if !added && result.len() < limit {
                result.push(entry.clone());
            }
        }
        result.truncate(limit);
        result
    }

    /// The cartesian product of the axes, at most `limit` combinations. No axes: none.
    fn product(&self, limit: usize) -> Vec<MatrixEntry> {
        if self.axes.is_empty() {
            return Vec::new();
        }
        let mut combinations: Vec<MatrixEntry> = vec![Vec::new()];
        for (name, values) in &self.axes {
            let mut next =
                Vec::with_capacity(combinations.len().saturating_mul(values.len()).min(limit));
            'outer: for combination in &combinations {
                for value in values {
                    if next.len() >= limit {
                        break 'outer;
                    }
                    let mut extended = combination.clone();
                    extended.push((name.clone(), value.clone()));
                    next.push(extended);
                }
            }
            combinations = next;
        }
        combinations
    }

    /// Whether `entry` agrees with every original axis value of `combination`.
    fn compatible(&self, combination: &MatrixEntry, entry: &MatrixEntry) -> bool {
        entry.iter().all(|(key, value)| {
            if !self.axes.iter().any(|(axis, _)| axis == key) {
                return true;
            }
            get(combination, key).is_none_or(|current| current == value)
        })
    }
}

fn matches_all(combination: &MatrixEntry, entry: &MatrixEntry) -> bool {
    entry
        .iter()
        .all(|(key, value)| get(combination, key) == Some(value))
}

fn get<'a>(combination: &'a MatrixEntry, key: &str) -> Option<&'a Value> {
    combination.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn set(combination: &mut MatrixEntry, key: &str, value: &Value) {
    match combination.iter_mut().find(|(k, _)| k == key) {
        Some((_, current)) => *current = value.clone(),
        None => combination.push((key.to_string(), value.clone())),
    }
}
