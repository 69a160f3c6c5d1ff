//! Stopping what an exec started, from the Docker host.
//!
//! The Engine API has no call that kills an exec, so the executor does it as the local executor
//! stops a step: with signals, from this machine (the agent runs on the Docker host, as root,
//! and sees the container's processes in its own `/proc`). An exec's process is started by runc
//! as the leader of a new session, so everything the step starts is in that session or below
//! that process, even after its parent died and it was re-parented to the container's init.

use crate::process::{ProcStat, all_processes};

/// Sends `signal` to the exec process `leader` and to every live process of its tree: its
/// descendants and the members of its session and process group. Returns how many processes
/// were signalled (0: nothing is left).
pub(crate) fn signal_tree(leader: i32, signal: libc::c_int) -> usize {
    if leader <= 1 {
        return 0;
    }
    let members = tree_members(leader, &all_processes());
    for &pid in &members {
        // SAFETY: kill has no memory-safety preconditions; every pid here is > 1.
        unsafe {
            libc::kill(pid, signal);
        }
    }
    members.len()
}

/// True while a live process of the tree remains.
pub(crate) fn tree_alive(leader: i32) -> bool {
    leader > 1 && !tree_members(leader, &all_processes()).is_empty()
}

/// The live members of `leader`'s tree among `processes`.
fn tree_members(leader: i32, processes: &[ProcStat]) -> Vec<i32> {
    let mut members: Vec<i32> = Vec::new();
    let mut frontier = vec![leader];
    // The session and group catch orphans re-parented to the container's init.
    for process in processes {
        if process.pid == leader || process.session == leader || process.pgrp == leader {
            members.push(process.pid);
        }
    }
    frontier.extend(members.iter().copied());
    while let Some(parent) = frontier.pop() {
        for process in processes {
            if process.ppid == parent && !members.contains(&process.pid) {
                members.push(process.pid);
                frontier.push(process.pid);
            }
        }
    }
    members.retain(|&pid| {
        pid > 1
            && processes
                .iter()
                .any(|process| process.pid == pid && process.is_live())
    });
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: i32, ppid: i32, pgrp: i32, session: i32, state: u8) -> ProcStat {
        ProcStat {
            pid,
            state,
            ppid,
            pgrp,
            session,
            start_time: 0,
        }
    }

    #[test]
    fn the_tree_takes_descendants_session_and_group_but_not_zombies() {
        let processes = [
            process(1, 0, 1, 1, b'S'),
            process(100, 1, 100, 100, b'S'),   // the container's init
            process(200, 150, 200, 200, b'S'), // the exec's leader
            process(201, 200, 200, 200, b'S'), // a child
            process(202, 201, 202, 202, b'S'), // a grandchild in a session of its own
            process(203, 100, 200, 200, b'S'), // an orphan adopted by init
            process(204, 100, 204, 200, b'S'), // an orphan in a group of its own
            process(205, 200, 200, 200, b'Z'), // a zombie
            process(300, 100, 300, 300, b'S'), // another exec
        ];
        let mut members = tree_members(200, &processes);
        members.sort_unstable();
        assert_eq!(members, vec![200, 201, 202, 203, 204]);
        assert!(tree_members(999, &processes).is_empty());
    }
}
