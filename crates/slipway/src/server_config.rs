//! The server's settings for `slipway server` and `slipway up`: flags,
//! environment, an optional TOML file, defaults.
//!
//! Precedence, for every setting: a command-line flag wins over the
//! environment (`SLIPWAY_LISTEN`, `SLIPWAY_HOME`, `SLIPWAY_DATABASE`), the
//! environment over the file (`--config FILE`), the file over the defaults
//! of [`ServerConfig::new`]. The file's keys may stand at the top level or
//! in a `[server]` table (not both for the same key):
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "/var/lib/slipway"
//! database = "postgres://slipway@127.0.0.1/slipway"
//! poll_interval_secs = 60
//! lease_secs = 30
//! shutdown_grace_secs = 30
//! builtin_agent = false
//! agent_labels = ["linux", "docker"]
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use slipway_server::ServerConfig;

/// The settings given on the command line (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct ServerFlags {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub config: Option<PathBuf>,
}

/// The keys a configuration file may hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    poll_interval_secs: Option<u64>,
    lease_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    builtin_agent: Option<bool>,
    agent_labels: Option<Vec<String>>,
}

/// A whole file: flat keys, and the same keys in `[server]`. (Spelled out
/// rather than `#[serde(flatten)]`, which cannot deny unknown keys.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDocument {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    poll_interval_secs: Option<u64>,
    lease_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    builtin_agent: Option<bool>,
    agent_labels: Option<Vec<String>>,
    server: Option<FileSettings>,
}

/// Reads `--config FILE` (when given) and resolves every setting with the
/// process environment. `builtin_agent` is the command's default (true for
/// `up`, false for `server`), which the file may change.
pub fn load(flags: &ServerFlags, builtin_agent: bool) -> Result<ServerConfig, String> {
    let file = match &flags.config {
        Some(path) => Some((path.as_path(), read_file(path)?)),
        None => None,
    };
    resolve(
        flags,
        |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        file.as_ref().map(|(path, text)| (*path, text.as_str())),
        builtin_agent,
    )
}

fn read_file(path: &Path) -> Result<String, String> {
    const LIMIT: u64 = 1 << 20;
    let shown = path.display();
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read the config file {shown}: {e}"))?;
    if metadata.len() > LIMIT {
        return Err(format!(
            "the config file {shown} has {} bytes; at most {LIMIT} are read",
            metadata.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the config file {shown}: {e}"))
}

/// The precedence rules, without touching the process: `env` looks a
/// variable up, `file` is the config file's path and text.
pub fn resolve(
    flags: &ServerFlags,
    env: impl Fn(&str) -> Option<String>,
    file: Option<(&Path, &str)>,
    builtin_agent: bool,
) -> Result<ServerConfig, String> {
    let file = match file {
        Some((path, text)) => parse_file(path, text)?,
        None => FileSettings::default(),
    };
    let data_dir = flags
        .data_dir
        .clone()
        .or_else(|| env("SLIPWAY_HOME").map(PathBuf::from))
        .or(file.data_dir)
        .unwrap_or_else(slipway_server::default_data_dir);
    let mut config = ServerConfig::new(data_dir);
    config.builtin_agent = file.builtin_agent.unwrap_or(builtin_agent);

    let listen = flags
        .listen
        .as_ref()
        .map(|v| ("--listen", v.clone()))
        .or_else(|| env("SLIPWAY_LISTEN").map(|v| ("SLIPWAY_LISTEN", v)))
        .or_else(|| file.listen.map(|v| ("listen in the config file", v)));
    if let Some((source, text)) = listen {
        config.listen = parse_listen(&text).map_err(|e| format!("{source}: {e}"))?;
    }
    config.database = flags
        .database
        .clone()
        .or_else(|| env("SLIPWAY_DATABASE"))
        .or(file.database)
        .or(config.database);
    if let Some(secs) = file.poll_interval_secs {
        config.poll_interval = positive_secs(secs, "poll_interval_secs")?;
    }
    if let Some(secs) = file.lease_secs {
        config.lease = positive_secs(secs, "lease_secs")?;
    }
    if let Some(secs) = file.shutdown_grace_secs {
        config.shutdown_grace = Duration::from_secs(secs);
    }
    if let Some(labels) = file.agent_labels {
        config.agent_labels = labels;
    }
    Ok(config)
}

fn parse_file(path: &Path, text: &str) -> Result<FileSettings, String> {
    let shown = path.display();
    let document: FileDocument =
        toml::from_str(text).map_err(|e| format!("config file {shown}: {e}"))?;
    let mut top = document;
    let server = top.server.take().unwrap_or_default();
    macro_rules! merge {
        ($($key:ident),*) => {
            FileSettings {
                $($key: match (top.$key, server.$key) {
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "config file {shown}: `{}` is set both at the top level and in [server]; keep one",
                            stringify!($key)
                        ))
                    }
                    (a, b) => a.or(b),
                },)*
            }
        };
    }
    Ok(merge!(
        listen,
        data_dir,
        database,
        poll_interval_secs,
        lease_secs,
        shutdown_grace_secs,
        builtin_agent,
        agent_labels
    ))
}

/// `ADDR:PORT`, e.g. `127.0.0.1:8080` or `[::1]:8080`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("`{text}` is not an address and port; write ADDR:PORT, e.g. 127.0.0.1:8080")
    })
}

fn positive_secs(secs: u64, key: &str) -> Result<Duration, String> {
    if secs == 0 {
        return Err(format!("{key} must be at least 1 (seconds)"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FILE: &str = r#"
listen = "127.0.0.1:9000"
data_dir = "/from/file"
database = "postgres://file"
poll_interval_secs = 5
lease_secs = 12
shutdown_grace_secs = 0
agent_labels = ["linux"]
"#;

    fn file() -> Option<(&'static Path, &'static str)> {
        Some((Path::new("slipway.toml"), FILE))
    }

    #[test]
    fn file_values_apply_when_nothing_else_is_given() {
        let config = resolve(&ServerFlags::default(), env_of(&[]), file(), false).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.database.as_deref(), Some("postgres://file"));
        assert_eq!(config.poll_interval, Duration::from_secs(5));
        assert_eq!(config.lease, Duration::from_secs(12));
        assert_eq!(config.shutdown_grace, Duration::ZERO);
        assert_eq!(config.agent_labels, vec!["linux".to_string()]);
        assert!(!config.builtin_agent);
    }

    #[test]
    fn environment_wins_over_the_file() {
        let env = env_of(&[
            ("SLIPWAY_LISTEN", "127.0.0.1:9100"),
            ("SLIPWAY_HOME", "/from/env"),
            ("SLIPWAY_DATABASE", "sqlite:///env.db"),
        ]);
        let config = resolve(&ServerFlags::default(), env, file(), false).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        assert_eq!(config.database.as_deref(), Some("sqlite:///env.db"));
        // What only the file sets still comes from the file.
        assert_eq!(config.lease, Duration::from_secs(12));
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = env_of(&[
            ("SLIPWAY_LISTEN", "127.0.0.1:9100"),
            ("SLIPWAY_HOME", "/from/env"),
            ("SLIPWAY_DATABASE", "sqlite:///env.db"),
        ]);
        let flags = ServerFlags {
            listen: Some("127.0.0.1:9200".into()),
            data_dir: Some("/from/flag".into()),
            database: Some("postgres://flag".into()),
            config: None,
        };
        let config = resolve(&flags, env, file(), true).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9200");
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.database.as_deref(), Some("postgres://flag"));
        assert!(config.builtin_agent);
    }

    #[test]
    fn defaults_without_flags_env_or_file() {
        let flags = ServerFlags {
            data_dir: Some("/d".into()),
            ..ServerFlags::default()
        };
        let config = resolve(&flags, env_of(&[]), None, true).unwrap();
        let defaults = ServerConfig::new("/d".into());
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.database, None);
        assert_eq!(config.poll_interval, defaults.poll_interval);
        assert!(config.builtin_agent);
    }

    #[test]
    fn a_server_section_holds_the_same_keys() {
        let text = "[server]\nlisten = \"127.0.0.1:7000\"\nbuiltin_agent = true\n";
        let config = resolve(
            &ServerFlags::default(),
            env_of(&[("SLIPWAY_HOME", "/h")]),
            Some((Path::new("c.toml"), text)),
            false,
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert!(config.builtin_agent);
    }

    #[test]
    fn bad_files_and_values_are_explained() {
        let cases = [
            ("listen = 8080\n", "c.toml"),
            ("lisen = \"127.0.0.1:1\"\n", "lisen"),
            ("listen = \"localhost\"\n", "ADDR:PORT"),
            ("lease_secs = 0\n", "lease_secs"),
            (
                "listen = \"127.0.0.1:1\"\n[server]\nlisten = \"127.0.0.1:2\"\n",
                "both",
            ),
            ("[server\n", "c.toml"),
        ];
        for (text, expected) in cases {
            let error = resolve(
                &ServerFlags::default(),
                env_of(&[("SLIPWAY_HOME", "/h")]),
                Some((Path::new("c.toml"), text)),
                false,
            )
            .unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_bad_flag_names_its_source() {
        let flags = ServerFlags {
            listen: Some("nonsense".into()),
            data_dir: Some("/d".into()),
            ..ServerFlags::default()
        };
        let error = resolve(&flags, env_of(&[]), None, false).unwrap_err();
        assert!(error.starts_with("--listen:"), "{error}");
        let error = resolve(
            &ServerFlags::default(),
            env_of(&[("SLIPWAY_LISTEN", "x"), ("SLIPWAY_HOME", "/h")]),
            None,
            false,
        )
        .unwrap_err();
        assert!(error.starts_with("SLIPWAY_LISTEN:"), "{error}");
    }
}
