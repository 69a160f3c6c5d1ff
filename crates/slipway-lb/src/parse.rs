//! Parsers for the answers of `show servers state`, `show stat` and `show backend`. Pure
//! functions: columns are found by their header names, so added columns in a newer HAProxy do
//! not shift what is read.

use crate::model::{OperationalState, ServerState, State};

/// A server row of `show servers state`, before sessions are joined in from `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerRow {
    pub name: String,
    pub addr: String,
    pub operational: OperationalState,
    pub admin_flags: u32,
    pub weight: u16,
    pub initial_weight: u16,
}

impl ServerRow {
    pub(crate) fn with_sessions(self, sessions: u64) -> ServerState {
        ServerState {
            admin: State::from_admin_flags(self.admin_flags),
            name: self.name,
            addr: self.addr,
            operational: self.operational,
            admin_flags: self.admin_flags,
            weight: self.weight,
            initial_weight: self.initial_weight,
            sessions,
        }
    }
}

/// Parses `show servers state BACKEND`: a format version line (`1`), a `# `-prefixed header of
/// space-separated names, then one space-separated row per server.
pub(crate) fn servers_state(answer: &str) -> Result<Vec<ServerRow>, String> {
    let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
    match lines.next().map(str::trim) {
        Some("1") => {}
        Some(other) => return Err(format!("unknown format version line `{other}`")),
        None => return Err("empty answer".to_owned()),
    }
    let header: Vec<&str> = lines
        .next()
        .and_then(|h| h.strip_prefix('#'))
        .ok_or("missing `#` header line")?
        .split_whitespace()
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column `{name}`"))
    };
    let name_at = column("srv_name")?;
    let addr_at = column("srv_addr")?;
    let port_at = column("srv_port").ok();
    let op_at = column("srv_op_state")?;
    let admin_at = column("srv_admin_state")?;
    let uweight_at = column("srv_uweight")?;
    let iweight_at = column("srv_iweight")?;

    let mut rows = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let field = |at: usize, what: &str| {
            fields
                .get(at)
                .copied()
                .ok_or_else(|| format!("row `{line}` has no {what}"))
        };
        let number = |at: usize, what: &str| -> Result<u32, String> {
            let text = field(at, what)?;
            text.parse()
                .map_err(|_| format!("{what} `{text}` is not a number in row `{line}`"))
        };
        let weight = |at: usize, what: &str| -> Result<u16, String> {
            u16::try_from(number(at, what)?).map_err(|_| format!("{what} out of range in `{line}`"))
        };
        let addr = field(addr_at, "srv_addr")?;
        let addr = match port_at.and_then(|at| fields.get(at)) {
            Some(port) if *port != "0" && *port != "-" => format!("{addr}:{port}"),
            _ => addr.to_owned(),
        };
        rows.push(ServerRow {
            name: field(name_at, "srv_name")?.to_owned(),
            addr,
            operational: OperationalState::from_code(number(op_at, "srv_op_state")?),
            admin_flags: number(admin_at, "srv_admin_state")?,
            weight: weight(uweight_at, "srv_uweight")?,
            initial_weight: weight(iweight_at, "srv_iweight")?,
        });
    }
    Ok(rows)
}

/// Parses `show stat BACKEND 4 -1` (servers only, CSV) into `(server name, scur)` pairs.
pub(crate) fn stat_sessions(answer: &str) -> Result<Vec<(String, u64)>, String> {
    let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or("missing `# ` CSV header")?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column `{name}`"))
    };
    let sv_at = column("svname")?;
    let scur_at = column("scur")?;
    let mut sessions = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(name), Some(scur)) = (fields.get(sv_at), fields.get(scur_at)) else {
            return Err(format!("short CSV row `{line}`"));
        };
        if *name == "FRONTEND" || *name == "BACKEND" {
            continue;
        }
        let scur = scur
            .parse()
            .map_err(|_| format!("scur `{scur}` is not a number in `{line}`"))?;
        sessions.push(((*name).to_owned(), scur));
    }
    Ok(sessions)
}

/// Parses `show backend`: a `# name` header, then one backend name per line.
pub(crate) fn backend_names(answer: &str) -> Vec<String> {
    answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 app 1 a 127.0.0.1 2 8 100 100 0 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0\n3 app 2 b 127.0.0.1 2 0 50 100 1 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0\n\n";

    #[test]
    fn servers_state_reads_haproxy_2_6_output() {
        let rows = servers_state(STATE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "a");
        assert_eq!(rows[0].addr, "127.0.0.1:18081");
        assert_eq!(State::from_admin_flags(rows[0].admin_flags), State::Drain);
        assert_eq!((rows[1].weight, rows[1].initial_weight), (50, 100));
        assert_eq!(rows[1].operational, OperationalState::Running);
    }

    #[test]
    fn servers_state_rejects_garbage_without_panicking() {
        for bad in [
            "",
            "2\n# x\n",
            "1\n",
            "1\n# srv_name\n",
            "1\n# srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\na b x 0 1 1\n",
            "1\n# srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\na b\n",
        ] {
            assert!(servers_state(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn stat_sessions_skips_aggregate_rows_and_reads_scur() {
        let csv = "# pxname,svname,qcur,qmax,scur\napp,a,0,0,3\napp,BACKEND,0,0,3\n\n";
        assert_eq!(stat_sessions(csv).unwrap(), vec![("a".to_owned(), 3)]);
        assert!(stat_sessions("app,a,0\n").is_err());
        assert!(stat_sessions("# pxname,svname,qcur,qmax,scur\napp,a\n").is_err());
    }

    #[test]
    fn admin_flags_maint_wins_over_drain() {
        assert_eq!(State::from_admin_flags(0x01 | 0x08), State::Maint);
        assert_eq!(State::from_admin_flags(0x10), State::Drain);
        assert_eq!(State::from_admin_flags(0), State::Ready);
    }

    #[test]
    fn backend_names_skips_header() {
        assert_eq!(
            backend_names("# name\napp\nstatic\n\n"),
            vec!["app", "static"]
        );
    }
}
