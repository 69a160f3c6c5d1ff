//! Reads `concurrency:` (pipeline and job level): a group template, or
//! `{group, cancel-in-progress}`.

use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::fields::Field;
use crate::model::Concurrency;
use crate::schema::CONCURRENCY_KEYS;
use crate::yaml::{Key, Node, NodeKind};

const FORM_HELP: &str = "write `concurrency: deploy-${{ git.branch }}` or `concurrency: {group: deploy, cancel-in-progress: true}`";

pub(crate) fn read(
    c: &mut Checker<'_>,
    key: &Key,
    node: &Node,
    field: Field,
) -> Option<Concurrency> {
    match &node.kind {
        NodeKind::Map(entries) => {
            c.check_keys(entries, CONCURRENCY_KEYS, "`concurrency`");
            let mut group = None;
            let mut cancel_in_progress = false;
            for (k, value) in entries {
                match k.name.as_str() {
                    "group" => group = Some(group_template(c, value, field)),
                    "cancel-in-progress" => {
                        cancel_in_progress =
                            c.boolean(value, "`cancel-in-progress`").unwrap_or(false);
                    }
                    _ => {}
                }
            }
            let Some(group) = group else {
                c.missing(
                    node,
                    "group",
                    "`concurrency`",
                    "add `group:`, e.g. `group: deploy-${{ git.branch }}`",
                );
                return None;
            };
            Some(Concurrency {
                group: group?,
                cancel_in_progress,
                span: key.span,
            })
        }
        NodeKind::Str(_) | NodeKind::Int(_) | NodeKind::Float(_) => Some(Concurrency {
            group: group_template(c, node, field)?,
            cancel_in_progress: false,
            span: key.span,
        }),
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a group name or a map for `concurrency`, found {}",
                        node.describe()
                    ),
                )
                .help(FORM_HELP),
            );
            None
        }
    }
}

fn group_template(
    c: &mut Checker<'_>,
    node: &Node,
    field: Field,
) -> Option<crate::model::Template> {
    let template = c.template(node, field, "`concurrency.group`")?;
    if template.source().trim().is_empty() {
        c.push(
            Diagnostic::new(node.span, node.width(), "the concurrency group is empty")
                .help(FORM_HELP),
        );
        return None;
    }
    Some(template)
}
