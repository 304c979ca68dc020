//! Configuration reload: on SIGHUP, and when the watched file's content changes (a Kubernetes
//! ConfigMap update swaps a symlink, so content is compared, not timestamps), load and validate the
//! file and hand it to the service. A configuration that fails to load is refused; the running one
//! keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;

use super::watch::{self, Seen};
use crate::api::AppState;
use crate::config::IamConfig;

/// Loads and validates the current configuration, or lists every problem with it.
pub type LoadFn = Arc<dyn Fn() -> Result<IamConfig, Vec<String>> + Send + Sync>;

pub const RESULT_SUCCESS: &str = "success";
pub const RESULT_FAILURE: &str = "failure";

pub struct Reloader {
    load: LoadFn,
    watch: Option<(PathBuf, Duration)>,
}

impl Reloader {
    /// Reloads on SIGHUP only.
    pub fn new(load: impl Fn() -> Result<IamConfig, Vec<String>> + Send + Sync + 'static) -> Self {
        Self {
            load: Arc::new(load),
            watch: None,
        }
    }

    /// Also reloads when the content of `path` changes, checked every `interval`.
    pub fn watch_file(mut self, path: impl Into<PathBuf>, interval: Duration) -> Self {
        self.watch = Some((path.into(), interval));
        self
    }
}

/// One reload attempt. Returns whether the new configuration was taken.
pub async fn reload_once(state: &AppState, load: &LoadFn, reason: &'static str) -> bool {
    let load = load.clone();
    // Loading reads files (the config, key files); keep that off the async workers.
    let outcome = match web::block(move || load()).await {
        Ok(outcome) => outcome,
        Err(e) => Err(vec![format!("the reload task failed: {e}")]),
    };
    let outcome = outcome.and_then(|config| {
        state
            .service()
            .reload(config)
            .map_err(|e| vec![e.to_string()])
    });
    match outcome {
        Ok(()) => {
            state
                .metrics
                .config_reloads_total
                .with_label_values(&[RESULT_SUCCESS])
                .inc();
            tracing::info!(reason, "configuration reloaded");
            true
        }
        Err(problems) => {
            state
                .metrics
                .config_reloads_total
                .with_label_values(&[RESULT_FAILURE])
                .inc();
            tracing::error!(
                reason,
                problems = %problems.join("; "),
                "configuration reload refused; the running configuration keeps serving"
            );
            false
        }
    }
}

/// Starts the reload loop on the current actix runtime. The SIGHUP handler is installed before
/// this returns, so a SIGHUP sent once the server reports it is listening is never fatal.
pub fn spawn(
    state: web::Data<AppState>,
    reloader: Reloader,
) -> actix_web::rt::task::JoinHandle<()> {
    let hangup = Hangup::new();
    actix_web::rt::spawn(run(state, reloader, hangup))
}

async fn run(state: web::Data<AppState>, reloader: Reloader, mut hangup: Hangup) {
    let read = |path: &Path| std::fs::read(path).ok();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Some((path, interval)) = reloader.watch.clone() {
        if let Some(now) = read(&path) {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(&[&now]);
        }
        let seen = seen.clone();
        // The watching ends once this loop (and so the receiver) is gone.
        let spawned = watch::poll("config-watch", interval, move || {
            // An unreadable file (mid-swap, briefly absent) is not a change.
            let Some(now) = read(&path) else {
                return !changed.is_closed();
            };
            if seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(&[&now])
            {
                return changed.send(()).is_ok();
            }
            !changed.is_closed()
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot watch the configuration file; reload with SIGHUP");
        }
    }
    loop {
        let reason = tokio::select! {
            () = hangup.recv() => {
                // The content loaded now need not be loaded again by the watcher.
                if let Some(now) = reloader.watch.as_ref().and_then(|(path, _)| read(path)) {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).update(&[&now]);
                }
                "SIGHUP"
            }
            Some(()) = changes.recv() => "file changed",
        };
        reload_once(&state, &reloader.load, reason).await;
    }
}

/// SIGHUP as a stream; on platforms without it, or if it cannot be installed, never fires.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Self {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::BodyLimits;
    use crate::telemetry::Metrics;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn dev_config() -> IamConfig {
        crate::config::dev_config("dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=").config
    }

    fn state() -> web::Data<AppState> {
        web::Data::new(AppState::new(
            crate::service::StsService::new(dev_config()).unwrap(),
            BodyLimits::default(),
            Metrics::new().unwrap(),
        ))
    }

    fn count(state: &AppState, result: &str) -> u64 {
        state
            .metrics
            .config_reloads_total
            .with_label_values(&[result])
            .get()
    }

    #[actix_web::test]
    async fn a_good_config_is_swapped_in() {
        let state = state();
        let before = state.service().runtime();
        let load: LoadFn = Arc::new(|| {
            let mut config = dev_config();
            config.sts.issuer = "reloaded".into();
            Ok(config)
        });
        assert!(reload_once(&state, &load, "test").await);
        assert!(!Arc::ptr_eq(&before, &state.service().runtime()));
        assert_eq!(state.service().runtime().config().sts.issuer, "reloaded");
        assert_eq!(count(&state, RESULT_SUCCESS), 1);
    }

    #[actix_web::test]
    async fn a_bad_config_is_refused_and_the_running_one_stays() {
        let state = state();
        let before = state.service().runtime();
        let load: LoadFn = Arc::new(|| Err(vec!["roles[0].roleName: required".into()]));
        assert!(!reload_once(&state, &load, "test").await);
        assert!(Arc::ptr_eq(&before, &state.service().runtime()));
        assert_eq!(count(&state, RESULT_FAILURE), 1);
        assert_eq!(count(&state, RESULT_SUCCESS), 0);
    }

    #[actix_web::test]
    async fn a_content_change_triggers_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iam.json");
        std::fs::write(&path, "{}").unwrap();
        let loads = Arc::new(AtomicUsize::new(0));
        let counter = loads.clone();
        let reloader = Reloader::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(dev_config())
        })
        .watch_file(&path, Duration::from_millis(10));
        let state = state();
        let task = spawn(state.clone(), reloader);

        // Unchanged content: no reload however many ticks pass.
        for _ in 0..5 {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 0);

        std::fs::write(&path, r#"{"roles":[]}"#).unwrap();
        // Bounded wait for the watcher to notice; the assertion is on the count, not the time.
        for _ in 0..500 {
            if count(&state, RESULT_SUCCESS) == 1 {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(count(&state, RESULT_SUCCESS), 1);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        task.abort();
    }
}
