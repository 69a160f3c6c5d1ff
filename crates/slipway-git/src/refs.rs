//! Branches and tags of a repository, and what changed between two readings of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The branches and tags of a repository, each mapped to the commit it names. Annotated tags
/// are peeled to their commit; tags of trees or blobs are left out (nothing can be built
/// from them). Names are short: `main`, `release/1.2`, `v1.0`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refs {
    /// Branch name → commit id.
    pub branches: BTreeMap<String, String>,
    /// Tag name → commit id.
    pub tags: BTreeMap<String, String>,
}

/// One difference between two [`Refs`]: what the polling trigger turns into runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefChange {
    /// A branch moved (fast-forward or force push: [`crate::Mirror::changed_paths`] tells).
    BranchUpdated {
        /// Branch name.
        branch: String,
        /// Its commit before.
        before: String,
        /// Its commit now.
        after: String,
    },
    /// A branch appeared.
    BranchCreated {
        /// Branch name.
        branch: String,
        /// Its commit.
        after: String,
    },
    /// A branch disappeared.
    BranchDeleted {
        /// Branch name.
        branch: String,
        /// Its last commit.
        before: String,
    },
    /// A tag appeared.
    TagCreated {
        /// Tag name.
        tag: String,
        /// The commit it names.
        sha: String,
    },
    /// A tag disappeared.
    TagDeleted {
        /// Tag name.
        tag: String,
        /// The commit it named.
        sha: String,
    },
    /// A tag was re-pointed at another commit (`git tag -f` and a forced push).
    TagMoved {
        /// Tag name.
        tag: String,
        /// The commit it named before.
        before: String,
        /// The commit it names now.
        after: String,
    },
}

/// What changed from `before` to `after`: branches first, then tags, each in name order.
///
/// A ref whose commit did not change gives nothing, so diffing the same readings twice is
/// harmless. Take the first reading as a baseline rather than diffing it against
/// `Refs::default()`, unless every existing branch and tag should start a run.
pub fn diff_refs(before: &Refs, after: &Refs) -> Vec<RefChange> {
    let mut changes = Vec::new();
    for (branch, new) in &after.branches {
        match before.branches.get(branch) {
            None => changes.push(RefChange::BranchCreated {
                branch: branch.clone(),
                after: new.clone(),
            }),
            Some(old) if old != new => changes.push(RefChange::BranchUpdated {
                branch: branch.clone(),
                before: old.clone(),
                after: new.clone(),
            }),
            Some(_) => {}
        }
    }
    for (branch, old) in &before.branches {
        if !after.branches.contains_key(branch) {
            changes.push(RefChange::BranchDeleted {
                branch: branch.clone(),
                before: old.clone(),
            });
        }
    }
    for (tag, new) in &after.tags {
        match before.tags.get(tag) {
            None => changes.push(RefChange::TagCreated {
                tag: tag.clone(),
                sha: new.clone(),
            }),
            Some(old) if old != new => changes.push(RefChange::TagMoved {
                tag: tag.clone(),
                before: old.clone(),
                after: new.clone(),
            }),
            Some(_) => {}
        }
    }
    for (tag, old) in &before.tags {
        if !after.tags.contains_key(tag) {
            changes.push(RefChange::TagDeleted {
                tag: tag.clone(),
                sha: old.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(branches: &[(&str, &str)], tags: &[(&str, &str)]) -> Refs {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Refs {
            branches: map(branches),
            tags: map(tags),
        }
    }

    #[test]
    fn every_kind_of_change_in_order() {
        let before = refs(
            &[("main", "a1"), ("gone", "b1"), ("same", "c1")],
            &[("v1", "t1"), ("old", "t2"), ("moved", "t3")],
        );
        let after = refs(
            &[("main", "a2"), ("new", "d1"), ("same", "c1")],
            &[("v1", "t1"), ("v2", "t4"), ("moved", "t5")],
        );
        assert_eq!(
            diff_refs(&before, &after),
            vec![
                RefChange::BranchUpdated {
                    branch: "main".into(),
                    before: "a1".into(),
                    after: "a2".into()
                },
                RefChange::BranchCreated {
                    branch: "new".into(),
                    after: "d1".into()
                },
                RefChange::BranchDeleted {
                    branch: "gone".into(),
                    before: "b1".into()
                },
                RefChange::TagMoved {
                    tag: "moved".into(),
                    before: "t3".into(),
                    after: "t5".into()
                },
                RefChange::TagCreated {
                    tag: "v2".into(),
                    sha: "t4".into()
                },
                RefChange::TagDeleted {
                    tag: "old".into(),
                    sha: "t2".into()
                },
            ]
        );
    }

    #[test]
    fn no_change_means_nothing() {
        let r = refs(&[("main", "a")], &[("v1", "b")]);
        assert!(diff_refs(&r, &r).is_empty());
        assert!(diff_refs(&Refs::default(), &Refs::default()).is_empty());
    }
}
