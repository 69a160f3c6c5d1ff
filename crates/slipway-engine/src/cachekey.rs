//! Job cache keys, and why a key missed.
//!
//! A key is the BLAKE3 hash of a sorted list of named parts: the job's
//! definition (steps, env templates, matrix values, declared outputs and
//! artifacts), the values of the variables it sees, the contents of the files
//! its `inputs:` globs match, and the digests and outputs of the jobs it
//! needs. The list itself is kept per job ([`KeyManifest`]), so the next miss
//! can name the part that changed.

use crate::records::{Digest, KeyManifest};

/// Bumped when the meaning of a key changes, so old entries stop matching.
const KEY_SCHEMA: &str = "slipway-cache-key-v1";

/// Collects the parts of a key.
#[derive(Debug, Default)]
pub struct KeyBuilder {
    parts: Vec<(String, String)>,
}

impl KeyBuilder {
    pub fn new() -> KeyBuilder {
        KeyBuilder::default()
    }

    pub fn definition(&mut self, digest: &Digest) {
        self.parts
            .push(("definition".to_string(), digest.0.clone()));
    }

    /// A variable the job sees; the value is hashed, never stored.
    pub fn env(&mut self, name: &str, value: &str) {
        self.parts
            .push((format!("env:{name}"), Digest::of(value.as_bytes()).0));
    }

    pub fn file(&mut self, path: &str, digest: &Digest) {
        self.parts.push((format!("file:{path}"), digest.0.clone()));
    }

    /// An artifact of a needed job, named `job/artifact`.
    pub fn artifact(&mut self, job: &str, name: &str, digest: &Digest) {
        self.parts
            .push((format!("artifact:{job}/{name}"), digest.0.clone()));
    }

    /// An output of a needed job.
    pub fn upstream_output(&mut self, job: &str, name: &str, value: &str) {
        self.parts.push((
            format!("output:{job}.{name}"),
            Digest::of(value.as_bytes()).0,
        ));
    }

    /// The manifest (parts sorted, duplicates resolved last-wins) and its key.
    pub fn finish(mut self) -> (KeyManifest, Digest) {
        // Stable sort keeps insertion order among equal names; keep the last.
        self.parts.sort_by(|a, b| a.0.cmp(&b.0));
        let mut parts: Vec<(String, String)> = Vec::with_capacity(self.parts.len());
        for part in self.parts {
            match parts.last_mut() {
                Some(last) if last.0 == part.0 => *last = part,
                _ => parts.push(part),
            }
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(KEY_SCHEMA.as_bytes());
        for (name, digest) in &parts {
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update(&(digest.len() as u64).to_le_bytes());
            hasher.update(digest.as_bytes());
        }
        (KeyManifest { parts }, Digest::from_hash(hasher.finalize()))
    }
}

/// Feeds length-prefixed fields into a hasher, so `("ab","c")` and
/// `("a","bc")` differ.
#[derive(Default)]
pub struct DefinitionHasher(blake3::Hasher);

impl DefinitionHasher {
    pub fn field(&mut self, tag: &str, value: &str) -> &mut Self {
        for bytes in [tag.as_bytes(), value.as_bytes()] {
            self.0.update(&(bytes.len() as u64).to_le_bytes());
            self.0.update(bytes);
        }
        self
    }

    pub fn finish(&self) -> Digest {
        Digest::from_hash(self.0.finalize())
    }
}

/// Why `current` missed, compared with the manifest of the job's last run.
/// At most `limit` reasons, then a count of the rest.
pub fn explain_miss(
    previous: Option<&KeyManifest>,
    current: &KeyManifest,
    limit: usize,
) -> Vec<String> {
    let Some(previous) = previous else {
        return vec!["no earlier run of this job is recorded".to_string()];
    };
    let mut reasons = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (old, new) = (&previous.parts, &current.parts);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.0.cmp(&b.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                if old[i].1 != new[j].1 {
                    reasons.push(describe(&new[j].0, "changed"));
                }
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                reasons.push(describe(&old[i].0, "is gone"));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                reasons.push(describe(&new[j].0, "is new"));
                j += 1;
            }
        }
    }
    if reasons.is_empty() {
        reasons.push(
            "the inputs are as in the last run, which did not succeed or was not cached"
                .to_string(),
        );
    }
    if reasons.len() > limit {
        let more = reasons.len() - limit;
        reasons.truncate(limit);
        reasons.push(format!("and {more} more"));
    }
    reasons
}

fn describe(part: &str, what: &str) -> String {
    match part.split_once(':') {
        Some(("file", path)) => format!("file `{path}` {what}"),
        Some(("env", name)) => format!("variable `{name}` {what}"),
        Some(("artifact", name)) => format!("artifact `{name}` {what}"),
        Some(("output", name)) => format!("output `{name}` {what}"),
        _ if part == "definition" => format!("the job's definition {what}"),
        _ => format!("`{part}` {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, &str)]) -> (KeyManifest, Digest) {
        let mut builder = KeyBuilder::new();
        builder.definition(&Digest::of(b"steps"));
        for (path, content) in files {
            builder.file(path, &Digest::of(content.as_bytes()));
        }
        builder.finish()
    }

    #[test]
    fn same_parts_same_key_in_any_order() {
        let (_, a) = manifest(&[("a", "1"), ("b", "2")]);
        let (_, b) = manifest(&[("b", "2"), ("a", "1")]);
        assert_eq!(a, b);
        let (_, c) = manifest(&[("a", "1"), ("b", "3")]);
        assert_ne!(a, c);
    }

    #[test]
    fn explains_each_kind_of_change() {
        let (old, _) = manifest(&[("a", "1"), ("b", "2")]);
        let (new, _) = manifest(&[("a", "9"), ("c", "3")]);
        assert_eq!(
            explain_miss(Some(&old), &new, 10),
            vec!["file `a` changed", "file `b` is gone", "file `c` is new"]
        );
        assert_eq!(
            explain_miss(None, &new, 10),
            vec!["no earlier run of this job is recorded"]
        );
        assert_eq!(
            explain_miss(Some(&old), &new, 1),
            vec!["file `a` changed", "and 2 more"]
        );
    }

    #[test]
    fn env_values_are_hashed_not_kept() {
        let mut builder = KeyBuilder::new();
        builder.env("TOKEN", "hunter2");
        let (manifest, _) = builder.finish();
        assert!(!format!("{manifest:?}").contains("hunter2"));
    }
}
