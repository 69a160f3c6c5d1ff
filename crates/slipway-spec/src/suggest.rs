//! "Did you mean …?" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let distance = distance(
                &word.to_ascii_lowercase(),
                &candidate.to_ascii_lowercase(),
                limit,
            )?;
            (distance <= limit).then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), or `None`
/// when it exceeds `limit` (long words are not compared in full).
fn distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit || a.len() > 64 || b.len() > 64 {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in rows.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    Some(rows[a.len() * width + b.len()])
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_typos_only() {
        let keys = ["needs", "steps", "env", "matrix"];
        assert_eq!(closest("nedes", keys), Some("needs"));
        assert_eq!(closest("stpes", keys), Some("steps"));
        assert_eq!(closest("Env", keys), Some("env"));
        assert_eq!(closest("deploy", keys), None);
    }
}
