//! Server settings (listen address, TLS files, log format, body limit, admin listener, iam.json path),
//! layered with the `config` crate: defaults < `config/stsd.toml` < `STSD_*` variables < flags.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The settings file read when no other path is given; it may be absent.
pub const DEFAULT_SETTINGS_FILE: &str = "config/stsd.toml";
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8090";
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The environment variables read, by settings key. Only these are passed to the `config`
/// crate, so that `STSD_SIGNING_KEY` never enters the settings tree.
pub const ENV_VARS: [(&str, &str); 7] = [
    ("STSD_LISTEN", "listen"),
    ("STSD_LOG_FORMAT", "log_format"),
    ("STSD_BODY_LIMIT", "body_limit"),
    ("STSD_ADMIN_LISTEN", "admin_listen"),
    ("STSD_TLS_CERT", "tls_cert"),
    ("STSD_TLS_KEY", "tls_key"),
    ("STSD_CONFIG", "config"),
];

/// Log line format; `clap::ValueEnum` so that `--log-format` can take it directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!(
                "unknown log format {s:?}; use \"text\" or \"json\""
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// A separate listener for `/metrics` and the operator endpoints, when set.
    pub admin_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The `iam.json` path.
    pub config_path: Option<PathBuf>,
}

/// Values given on the command line; each one set wins over every other layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    pub listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    pub body_limit: Option<usize>,
    pub admin_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub config_path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("server settings: {0}")]
    Source(#[from] config::ConfigError),
    #[error("server setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Every value arrives as text (environment variables are strings) and is parsed here, so that
/// an error names the setting.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSettings {
    listen: Option<String>,
    log_format: Option<String>,
    body_limit: Option<String>,
    admin_listen: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    config: Option<String>,
}

fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        message: message.into(),
    }
}

fn parse_addr(key: &'static str, value: &str) -> Result<SocketAddr, SettingsError> {
    value.trim().parse().map_err(|_| {
        invalid(
            key,
            format!("{value:?} is not an address such as 0.0.0.0:8090"),
        )
    })
}

impl ServerSettings {
    /// Layer the sources. `file`: an explicit settings file (must exist), else the optional
    /// [`DEFAULT_SETTINGS_FILE`]. `env`: the process environment, or a map in tests.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        cli: &CliOverrides,
    ) -> Result<Self, SettingsError> {
        let file_source = match file {
            Some(path) => File::from(path.to_path_buf())
                .format(FileFormat::Toml)
                .required(true),
            None => File::from(PathBuf::from(DEFAULT_SETTINGS_FILE))
                .format(FileFormat::Toml)
                .required(false),
        };
        let known: HashMap<String, String> = ENV_VARS
            .iter()
            .filter_map(|(var, _)| env.get(*var).map(|v| (var.to_string(), v.clone())))
            .collect();
        let raw: RawSettings = Config::builder()
            .set_default("listen", DEFAULT_LISTEN)?
            .set_default("log_format", "text")?
            .set_default("body_limit", DEFAULT_BODY_LIMIT.to_string())?
            .add_source(file_source)
            .add_source(
                Environment::with_prefix("STSD")
                    .ignore_empty(true)
                    .source(Some(known)),
            )
            .build()?
            .try_deserialize()?;
        let from_file = Self::from_raw(raw)?;
        Self::apply(from_file, cli)
    }

    /// [`Self::load`] with the `STSD_*` variables of the process environment.
    pub fn load_from_process(
        file: Option<&Path>,
        cli: &CliOverrides,
    ) -> Result<Self, SettingsError> {
        let env: HashMap<String, String> = ENV_VARS
            .iter()
            .filter_map(|(var, _)| std::env::var(var).ok().map(|v| (var.to_string(), v)))
            .collect();
        Self::load(file, &env, cli)
    }

    fn from_raw(raw: RawSettings) -> Result<Self, SettingsError> {
        let listen = parse_addr("listen", raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let log_format = match raw.log_format.as_deref() {
            Some(f) => f.parse().map_err(|m: String| invalid("log_format", m))?,
            None => LogFormat::Text,
        };
        let body_limit = match raw.body_limit.as_deref() {
            Some(b) => b
                .trim()
                .parse::<usize>()
                .map_err(|_| invalid("body_limit", format!("{b:?} is not a number of bytes")))?,
            None => DEFAULT_BODY_LIMIT,
        };
        let admin_listen = raw
            .admin_listen
            .as_deref()
            .map(|a| parse_addr("admin_listen", a))
            .transpose()?;
        Ok(Self {
            listen,
            log_format,
            body_limit,
            admin_listen,
            tls_cert: raw.tls_cert.map(PathBuf::from),
            tls_key: raw.tls_key.map(PathBuf::from),
            config_path: raw.config.map(PathBuf::from),
        })
    }

    fn apply(mut s: Self, cli: &CliOverrides) -> Result<Self, SettingsError> {
        if let Some(v) = cli.listen {
            s.listen = v;
        }
        if let Some(v) = cli.log_format {
            s.log_format = v;
        }
        if let Some(v) = cli.body_limit {
            s.body_limit = v;
        }
        if let Some(v) = cli.admin_listen {
            s.admin_listen = Some(v);
        }
        if let Some(v) = &cli.tls_cert {
            s.tls_cert = Some(v.clone());
        }
        if let Some(v) = &cli.tls_key {
            s.tls_key = Some(v.clone());
        }
        if let Some(v) = &cli.config_path {
            s.config_path = Some(v.clone());
        }
        if s.admin_listen == Some(s.listen) {
            return Err(invalid("admin_listen", "must differ from listen"));
        }
        if s.body_limit == 0 {
            return Err(invalid("body_limit", "must be greater than zero"));
        }
        match (&s.tls_cert, &s.tls_key) {
            (Some(_), None) => Err(invalid("tls_key", "required when tls_cert is set")),
            (None, Some(_)) => Err(invalid("tls_cert", "required when tls_key is set")),
            _ => Ok(s),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn toml(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn missing_file() -> PathBuf {
        // An explicit path that does not exist would be an error; the default one is optional.
        PathBuf::from("/nonexistent/stsd.toml")
    }

    #[test]
    fn defaults_without_any_source() {
        let f = toml("");
        let s = ServerSettings::load(Some(f.path()), &HashMap::new(), &CliOverrides::default())
            .unwrap();
        assert_eq!(
            s,
            ServerSettings {
                listen: "0.0.0.0:8090".parse().unwrap(),
                log_format: LogFormat::Text,
                body_limit: 65536,
                admin_listen: None,
                tls_cert: None,
                tls_key: None,
                config_path: None,
            }
        );
    }

    #[test]
    fn file_then_env_then_cli() {
        let f = toml(
            "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\nbody_limit = 1024\n\
             admin_listen = \"127.0.0.1:9100\"\nconfig = \"/etc/stsd/iam.json\"\n",
        );
        let none = CliOverrides::default();
        let s = ServerSettings::load(Some(f.path()), &HashMap::new(), &none).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.body_limit, 1024);
        assert_eq!(s.admin_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(s.config_path, Some(PathBuf::from("/etc/stsd/iam.json")));

        let e = env(&[
            ("STSD_LISTEN", "127.0.0.1:9001"),
            ("STSD_BODY_LIMIT", "2048"),
            ("STSD_LOG_FORMAT", "TEXT"),
            ("STSD_CONFIG", "/env/iam.json"),
            ("STSD_TLS_CERT", "/tls/cert.pem"),
            ("STSD_TLS_KEY", "/tls/key.pem"),
            ("STSD_SIGNING_KEY", "not a setting"),
        ]);
        let s = ServerSettings::load(Some(f.path()), &e, &none).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(s.body_limit, 2048);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.config_path, Some(PathBuf::from("/env/iam.json")));
        assert_eq!(s.tls_cert, Some(PathBuf::from("/tls/cert.pem")));
        assert_eq!(s.admin_listen, Some("127.0.0.1:9100".parse().unwrap()));

        let cli = CliOverrides {
            listen: Some("127.0.0.1:9002".parse().unwrap()),
            log_format: Some(LogFormat::Json),
            config_path: Some(PathBuf::from("cli.json")),
            ..CliOverrides::default()
        };
        let s = ServerSettings::load(Some(f.path()), &e, &cli).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9002".parse().unwrap());
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.body_limit, 2048);
        assert_eq!(s.config_path, Some(PathBuf::from("cli.json")));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let f = toml("");
        let none = CliOverrides::default();
        let cases = [
            ("STSD_LISTEN", "localhost", "listen"),
            ("STSD_LOG_FORMAT", "xml", "log_format"),
            ("STSD_BODY_LIMIT", "lots", "body_limit"),
            ("STSD_BODY_LIMIT", "0", "body_limit"),
            ("STSD_ADMIN_LISTEN", ":90", "admin_listen"),
            ("STSD_ADMIN_LISTEN", "0.0.0.0:8090", "admin_listen"),
            ("STSD_TLS_CERT", "/c.pem", "tls_key"),
            ("STSD_TLS_KEY", "/k.pem", "tls_cert"),
        ];
        for (var, value, key) in cases {
            match ServerSettings::load(Some(f.path()), &env(&[(var, value)]), &none) {
                Err(SettingsError::Invalid { key: k, .. }) => assert_eq!(k, key, "{var}={value}"),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn explicit_file_must_exist_and_parse() {
        let none = CliOverrides::default();
        assert!(matches!(
            ServerSettings::load(Some(&missing_file()), &HashMap::new(), &none),
            Err(SettingsError::Source(_))
        ));
        let f = toml("listen = [");
        assert!(matches!(
            ServerSettings::load(Some(f.path()), &HashMap::new(), &none),
            Err(SettingsError::Source(_))
        ));
    }

    #[test]
    fn example_file_documents_every_key() {
        let text = include_str!("../../config/stsd.example.toml");
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        for (_, key) in ENV_VARS {
            assert!(uncommented.contains(&format!("{key} = ")), "{key} missing");
        }
        let f = toml(&uncommented);
        let s = ServerSettings::load(Some(f.path()), &HashMap::new(), &CliOverrides::default())
            .unwrap();
        assert_eq!(s.admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(s.tls_key, Some(PathBuf::from("/etc/stsd/tls/tls.key")));
        assert_eq!(s.config_path, Some(PathBuf::from("/etc/stsd/iam.json")));
        let empty = ServerSettings::load(
            Some(toml(text).path()),
            &HashMap::new(),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(empty.listen, DEFAULT_LISTEN.parse().unwrap());
    }
}
