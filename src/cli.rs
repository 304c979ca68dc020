//! The command line: `serve` (the default), `check-config`, `healthcheck`, `version` (DESIGN.md §2).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::app::reload::Reloader;
use crate::app::tls::TlsFiles;
use crate::app::{self, HttpSettings};
use crate::config::{self, IamConfig};
use crate::service::StsService;
use crate::telemetry::{init_logging, LogFormat};

/// Git revision baked in at build time (`STSD_GIT_REVISION=$(git rev-parse HEAD) cargo build`).
const GIT_REVISION: Option<&str> = option_env!("STSD_GIT_REVISION");

/// How often the config file is checked for a new version (SIGHUP reloads at once).
const CONFIG_POLL_INTERVAL: Duration = Duration::from_secs(5);

pub const DEV_ROLE_ARN: &str = "arn:aws:iam::role/DevRole";
pub const DEV_TOKEN: &str = "valid_test_token";

#[derive(Debug, Parser)]
#[command(
    name = "stsd",
    version,
    about = "A standalone AWS-compatible Security Token Service",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `stsd --config iam.json` means `stsd serve --config iam.json`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Parse and validate an iam.json, print a summary; exit 1 listing every problem.
    CheckConfig {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Exit 0 when the health endpoint answers 200 (a Docker HEALTHCHECK without curl).
    Healthcheck {
        /// Defaults to http://127.0.0.1:<port of STSD_LISTEN or 8090>/healthz.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Accept any server certificate (a loopback check of a self-signed HTTPS listener).
        #[arg(long)]
        insecure: bool,
    },
    /// Print the version and git revision.
    Version,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// The iam.json to serve.
    #[arg(
        long,
        visible_alias = "iam-config",
        env = "STSD_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Run with an embedded development config (mock provider, demo role, random signing key).
    /// Takes precedence over --config / STSD_CONFIG.
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on [default: 0.0.0.0:8090; with --dev 127.0.0.1:8090].
    #[arg(long, env = "STSD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Where /metrics, /sts/providers, /sts/sessions/count and the dry run of /sts/validate-token
    /// are served; the main listener never serves them. `off` serves them nowhere.
    /// [default: 127.0.0.1:9090]
    #[arg(long, env = "STSD_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Accept a config with an enabled `mock` provider (implied by --dev). Never in production.
    #[arg(long)]
    pub allow_mock_providers: bool,
    #[arg(long, value_enum, env = "STSD_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Validate the config, print the report and exit, as `stsd check-config` does.
    #[arg(long)]
    pub test_config: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first).
    #[arg(long, env = "STSD_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "STSD_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(args),
        Command::CheckConfig { path } => check_config(&path),
        Command::Healthcheck { url, insecure } => {
            healthcheck(url.unwrap_or_else(default_health_url), insecure)
        }
        Command::Version => {
            print_stdout(&version_line());
            ExitCode::SUCCESS
        }
    }
}

/// SeaweedFS's `weed s3` flags that people paste from its pages, with what stsd spells instead.
const SEAWEEDFS_FLAGS: [(&str, &str); 4] = [
    ("iam.config", "--config PATH"),
    ("s3.iam.config", "--config PATH"),
    ("test.config", "`stsd check-config PATH` (or --test-config)"),
    ("port", "--listen 0.0.0.0:PORT"),
];

/// When `args` (without the program name) holds a SeaweedFS flag, the message naming the stsd
/// flag to use. Clap would otherwise read `-iam.config` as the short flags `-i -a -m …`.
pub fn seaweedfs_flag_hint<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Option<String> {
    for arg in args {
        let arg = arg.as_ref().to_string_lossy();
        if arg == "--" {
            return None;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        if let Some((_, ours)) = SEAWEEDFS_FLAGS.iter().find(|(theirs, _)| *theirs == name) {
            let ours = match value {
                Some(v) if !v.is_empty() => ours.replace("PATH", v).replace("PORT", v),
                _ => (*ours).to_owned(),
            };
            return Some(format!(
                "stsd: -{name} is a SeaweedFS `weed s3` flag; stsd uses {ours}"
            ));
        }
    }
    None
}

/// Writes to stdout, ignoring a closed pipe (`stsd check-config iam.json | head -1`).
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

pub fn version_line() -> String {
    format!(
        "stsd {} (git revision {})",
        env!("CARGO_PKG_VERSION"),
        GIT_REVISION.unwrap_or("unknown")
    )
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigSource<'a> {
    File(&'a Path),
    Dev,
}

fn serve(args: ServeArgs) -> ExitCode {
    // A second initialisation (tests) is not an error worth stopping for. The guard writes out
    // queued log lines when `serve` returns.
    let _log_guard = init_logging(args.log_format).ok();
    let source = match (&args.config, args.dev) {
        (Some(path), true) => {
            tracing::warn!(config = %path.display(), "--dev ignores the configuration file");
            ConfigSource::Dev
        }
        (None, true) => ConfigSource::Dev,
        (Some(path), false) => ConfigSource::File(path),
        (None, false) => {
            eprintln!("stsd: no configuration: pass --config PATH (or set STSD_CONFIG), or --dev");
            return ExitCode::FAILURE;
        }
    };
    if args.test_config {
        return match source {
            ConfigSource::File(path) => check_config(path),
            ConfigSource::Dev => {
                print_stdout("the embedded development configuration is valid");
                ExitCode::SUCCESS
            }
        };
    }
    let allow_mock = args.allow_mock_providers || args.dev;
    let service = match load_service(source, allow_mock) {
        Ok(service) => service,
        Err(problems) => {
            eprintln!("stsd: the configuration cannot be used:");
            for problem in problems {
                eprintln!("  {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    let default_listen = if args.dev {
        HttpSettings::DEV_LISTEN
    } else {
        HttpSettings::DEFAULT_LISTEN
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let settings = HttpSettings {
        listen: args.listen.unwrap_or_else(|| default_listen.to_owned()),
        tls,
        admin_listen: admin_listen(args.admin_listen.as_deref()),
        ..HttpSettings::default()
    };
    let dev = args.dev;
    let reloader = match source {
        ConfigSource::File(path) => {
            let path = path.to_path_buf();
            let watched = path.clone();
            Some(
                Reloader::new(move || load_config(ConfigSource::File(&path), allow_mock))
                    .watch_file(watched, CONFIG_POLL_INTERVAL),
            )
        }
        ConfigSource::Dev => None,
    };
    let result = actix_web::rt::System::new().block_on(app::serve_with(
        settings,
        service,
        reloader,
        |addrs| {
            if dev {
                // Not println!: a closed stdout must not take the server down with it.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", dev_banner(scheme, addrs)).and_then(|()| out.flush());
            }
        },
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stsd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The admin listener's address: loopback unless told otherwise, none with `off`.
fn admin_listen(arg: Option<&str>) -> Option<String> {
    match arg.map(str::trim) {
        None => Some(HttpSettings::DEFAULT_ADMIN_LISTEN.to_owned()),
        Some(off) if off.eq_ignore_ascii_case("off") => None,
        Some(addr) => Some(addr.to_owned()),
    }
}

/// Loads and validates a configuration source and applies the mock-provider gate. Used at start
/// and by every reload, so a reload can never smuggle in what start-up would refuse.
fn load_config(source: ConfigSource<'_>, allow_mock: bool) -> Result<IamConfig, Vec<String>> {
    let loaded = match source {
        ConfigSource::File(path) => config::load_file(path).map_err(|e| {
            e.problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })?,
        ConfigSource::Dev => config::try_dev_config(&random_signing_key()).map_err(|e| {
            e.problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })?,
    };
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "configuration warning");
    }
    if !loaded.seaweedfs_keys.is_empty() {
        tracing::info!(keys = %loaded.seaweedfs_keys.join(", "), "SeaweedFS settings stsd does not use");
    }
    let mocks = loaded.config.enabled_mock_providers();
    if !mocks.is_empty() && !allow_mock {
        return Err(mocks
            .iter()
            .map(|name| {
                format!(
                    "provider {name}: type \"mock\" accepts fixed test strings as identity tokens and \
                     must never reach production; pass --allow-mock-providers to run it anyway"
                )
            })
            .collect());
    }
    tracing::info!(
        secret_derivation = loaded.config.sts.secret_derivation.name(),
        "session credentials are derived for {}",
        loaded.config.sts.secret_derivation.gateways()
    );
    Ok(loaded.config)
}

fn load_service(source: ConfigSource<'_>, allow_mock: bool) -> Result<StsService, Vec<String>> {
    let config = load_config(source, allow_mock)?;
    StsService::new(config).map_err(|e| vec![e.to_string()])
}

/// 32 random bytes, standard base64: the throwaway key of `--dev`.
fn random_signing_key() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn check_config(path: &Path) -> ExitCode {
    let result = config::load_file(path);
    let report = config::report(&path.display().to_string(), &result);
    if result.is_ok() {
        print_stdout(&report);
        ExitCode::SUCCESS
    } else {
        eprintln!("{report}");
        ExitCode::FAILURE
    }
}

/// The `--dev` banner: the ephemeral-key warning, the address, and commands to paste.
pub fn dev_banner(scheme: &str, addrs: &[SocketAddr]) -> String {
    let port = addrs.first().map(SocketAddr::port).unwrap_or(8090);
    let url = format!("{scheme}://127.0.0.1:{port}");
    let listening: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    format!(
        "stsd development mode: mock identity provider, demo role {DEV_ROLE_ARN}.\n\
         The signing key is random and exists only in this process: sessions issued now stop\n\
         verifying when it exits.\n\
         Listening on {listening}\n\
         \n\
         Try:\n\
         \x20 curl -s {url}/ -d Action=AssumeRoleWithWebIdentity -d Version=2011-06-15 \\\n\
         \x20   -d RoleArn={DEV_ROLE_ARN} -d RoleSessionName=dev -d WebIdentityToken={DEV_TOKEN}\n\
         \x20 aws sts assume-role-with-web-identity --endpoint-url {url} --region us-east-1 \\\n\
         \x20   --role-arn {DEV_ROLE_ARN} --role-session-name dev --web-identity-token {DEV_TOKEN}\n",
        listening = listening.join(", ")
    )
}

fn default_health_url() -> String {
    let listen =
        std::env::var("STSD_LISTEN").unwrap_or_else(|_| HttpSettings::DEFAULT_LISTEN.into());
    health_url_for(&listen)
}

/// The loopback health URL for a listen address: the port is kept, the host is always loopback
/// (a server bound to 0.0.0.0 answers there too).
fn health_url_for(listen: &str) -> String {
    let port = listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .unwrap_or(8090);
    format!("http://127.0.0.1:{port}/healthz")
}

fn healthcheck(url: String, insecure: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stsd healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .danger_accept_invalid_certs(insecure)
            .build()?;
        client.get(&url).send().await.map(|r| r.status())
    });
    match outcome {
        Ok(status) if status == reqwest::StatusCode::OK => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("stsd healthcheck: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("stsd healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stsd").chain(args.iter().copied()))
    }

    #[test]
    fn serve_is_the_default_subcommand() {
        let cli = parse(&["--config", "iam.json", "--listen", "127.0.0.1:9000"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.config.as_deref(), Some(Path::new("iam.json")));
        assert_eq!(cli.serve.listen.as_deref(), Some("127.0.0.1:9000"));
    }

    #[test]
    fn iam_config_is_an_alias() {
        let cli = parse(&["serve", "--iam-config", "x.json", "--log-format", "json"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.config.as_deref(), Some(Path::new("x.json")));
        assert_eq!(args.log_format, LogFormat::Json);
    }

    #[test]
    fn dev_parses_beside_a_config() {
        // STSD_CONFIG may be set in the environment of someone trying --dev.
        let cli = parse(&["serve", "--dev", "--config", "x.json"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        assert!(args.dev);
        assert!(parse(&["serve", "--dev", "--allow-mock-providers"]).is_ok());
    }

    #[test]
    fn other_subcommands() {
        assert!(matches!(
            parse(&["check-config", "a.json"]).unwrap().command,
            Some(Command::CheckConfig { .. })
        ));
        assert!(matches!(
            parse(&["healthcheck", "--url", "http://x/healthz"])
                .unwrap()
                .command,
            Some(Command::Healthcheck {
                url: Some(_),
                insecure: false
            })
        ));
        assert!(matches!(
            parse(&["version"]).unwrap().command,
            Some(Command::Version)
        ));
        assert!(parse(&["nonsense"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
    }

    #[test]
    fn tls_flags_come_in_pairs() {
        assert!(parse(&["serve", "--dev", "--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["serve", "--dev", "--tls-key", "k.pem"]).is_err());
        let cli = parse(&["--dev", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert_eq!(cli.serve.tls_cert.as_deref(), Some(Path::new("c.pem")));
    }

    #[test]
    fn admin_listen_is_optional() {
        assert!(parse(&["--dev"]).unwrap().serve.admin_listen.is_none());
        let cli = parse(&["serve", "--dev", "--admin-listen", "127.0.0.1:9091"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(args.admin_listen.as_deref(), Some("127.0.0.1:9091"));
        assert_eq!(admin_listen(None).as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(admin_listen(Some("OFF")), None);
        assert_eq!(
            admin_listen(Some("0.0.0.0:9090")).as_deref(),
            Some("0.0.0.0:9090")
        );
    }

    #[test]
    fn health_url_keeps_the_port() {
        assert_eq!(
            health_url_for("0.0.0.0:9100"),
            "http://127.0.0.1:9100/healthz"
        );
        assert_eq!(health_url_for("[::]:8443"), "http://127.0.0.1:8443/healthz");
        assert_eq!(health_url_for("garbage"), "http://127.0.0.1:8090/healthz");
    }

    #[test]
    fn dev_banner_has_the_commands() {
        let banner = dev_banner("http", &["127.0.0.1:18090".parse().unwrap()]);
        assert!(banner.contains("random"));
        assert!(banner.contains("Listening on 127.0.0.1:18090"));
        assert!(
            banner.contains("curl -s http://127.0.0.1:18090/ -d Action=AssumeRoleWithWebIdentity")
        );
        assert!(banner.contains(
            "aws sts assume-role-with-web-identity --endpoint-url http://127.0.0.1:18090"
        ));
        assert!(banner.contains("WebIdentityToken=valid_test_token"));
        assert!(banner.contains("--role-arn arn:aws:iam::role/DevRole"));
    }

    #[test]
    fn mock_providers_need_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iam.json");
        std::fs::write(&path, include_str!("../config/dev.json").replace(
            "\"issuer\": \"seaweedfs-sts\"",
            "\"issuer\": \"seaweedfs-sts\", \"signingKey\": \"dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=\"",
        ))
        .unwrap();
        let refused = load_config(ConfigSource::File(&path), false).unwrap_err();
        assert!(
            refused[0].contains("provider mock") && refused[0].contains("--allow-mock-providers"),
            "{refused:?}"
        );
        assert!(load_config(ConfigSource::File(&path), true).is_ok());
    }

    #[test]
    fn dev_config_gets_a_fresh_random_key() {
        let a = load_config(ConfigSource::Dev, true).unwrap();
        let b = load_config(ConfigSource::Dev, true).unwrap();
        assert_ne!(a.sts.signing_key, b.sts.signing_key);
    }

    #[test]
    fn seaweedfs_flags_get_a_hint() {
        let hint = |args: &[&str]| seaweedfs_flag_hint(args);
        assert_eq!(
            hint(&["serve", "-iam.config=iam.json"]).unwrap(),
            "stsd: -iam.config is a SeaweedFS `weed s3` flag; stsd uses --config iam.json"
        );
        assert!(hint(&["-s3.iam.config", "x.json"])
            .unwrap()
            .contains("--config PATH"));
        assert!(hint(&["--config", "x.json", "-test.config"])
            .unwrap()
            .contains("stsd check-config PATH"));
        assert!(hint(&["-port=8333"])
            .unwrap()
            .contains("--listen 0.0.0.0:8333"));
        assert_eq!(
            hint(&["serve", "--config", "iam.json", "--listen", ":1"]),
            None
        );
        assert_eq!(hint(&["--", "-port"]), None);
    }

    #[test]
    fn version_mentions_the_revision() {
        assert!(version_line().starts_with(&format!("stsd {}", env!("CARGO_PKG_VERSION"))));
        assert!(version_line().contains("git revision"));
    }
}
