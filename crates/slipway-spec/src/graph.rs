//! Checks `needs:` across jobs: every name exists, no job needs itself twice, and no cycle.

use std::collections::HashMap;

use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::model::Job;
use crate::suggest::closest;

pub(crate) fn check(c: &mut Checker<'_>, jobs: &[Job]) {
    let index: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    // Edges that resolve, per job, as (target index, need position in the job's list).
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); jobs.len()];
    for (from, job) in jobs.iter().enumerate() {
        for (position, need) in job.needs.iter().enumerate() {
            if job.needs[..position]
                .iter()
                .any(|earlier| earlier.job == need.job)
            {
                c.push(
                    Diagnostic::new(
                        need.span,
                        need.job.chars().count(),
                        format!("`{}` is listed twice in `needs`", need.job),
                    )
                    .help("remove the repeated entry"),
                );
                continue;
            }
            match index.get(need.job.as_str()) {
                Some(&to) => edges[from].push((to, position)),
                None => {
                    let help = match closest(&need.job, jobs.iter().map(|j| j.id.as_str())) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
                            format!("the jobs are: {}", ids.join(", "))
                        }
                    };
                    c.push(
                        Diagnostic::new(
                            need.span,
                            need.job.chars().count(),
                            format!("job `{}` needs `{}`, which is not a job", job.id, need.job),
                        )
                        .help(help),
                    );
                }
            }
        }
    }
    report_cycles(c, jobs, &edges);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// Depth-first search without recursion (a file may hold many jobs). Each back edge closes a
/// cycle, reported once with its path and pointing at the `needs` entry that closes it.
fn report_cycles(c: &mut Checker<'_>, jobs: &[Job], edges: &[Vec<(usize, usize)>]) {
    let mut mark = vec![Mark::New; jobs.len()];
    for root in 0..jobs.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (job, next edge to follow)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&(to, need_position)) = edges[node].get(*next) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::OnPath;
                    path.push((to, 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|(j, _)| *j == to).unwrap_or(0);
                    let mut names: Vec<&str> = path[start..]
                        .iter()
                        .map(|(j, _)| jobs[*j].id.as_str())
                        .collect();
                    names.push(jobs[to].id.as_str());
                    let need = &jobs[node].needs[need_position];
                    c.push(
                        Diagnostic::new(
                            need.span,
                            need.job.chars().count(),
                            format!("the jobs' `needs` form a cycle: {}", names.join(" -> ")),
                        )
                        .help(format!(
                            "remove `{}` from the `needs` of `{}`, or another edge of the cycle",
                            need.job, jobs[node].id
                        ))
                        .note("`a -> b` means job `a` needs job `b`"),
                    );
                }
                Mark::Done => {}
            }
        }
    }
}
