//! Owned background work: every worker loop of a process runs under one
//! [`Workers`], which restarts a loop that fails or panics (after a pause
//! that grows while it keeps failing) and stops them all at shutdown, after
//! the server has drained and before the database pool closes.
//!
//! A loop is handed a [`CancellationToken`] and checks it between passes,
//! so a pass in progress finishes; one still running when the shutdown
//! grace is over is logged by name and dropped where it stands, which every
//! worker tolerates as it tolerates a crash (claims lapse, passes resume).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

pub use tokio_util::sync::CancellationToken;

/// How long a worker that failed waits before it starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// The pause after a first failure.
    pub first: Duration,
    /// The longest pause: each failure in a row doubles it up to this. A run
    /// that lasted at least this long before failing starts over at `first`.
    pub max: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// How long a worker dropped after the grace may take to go.
const DROP_WAIT: Duration = Duration::from_secs(1);

/// The background work of a process. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    /// Asks every loop to stop between passes.
    stop: CancellationToken,
    /// Drops what is still running once the grace is over.
    abort: CancellationToken,
    tracker: TaskTracker,
    /// The workers alive now, by name, to say which did not stop.
    running: Arc<Mutex<BTreeMap<&'static str, usize>>>,
    restart: Restart,
}

impl Workers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Workers that pause as `restart` says after a failure.
    pub fn with_restart(restart: Restart) -> Self {
        Self {
            restart,
            ..Self::default()
        }
    }

    /// Runs the loop `worker` makes, named `name` in logs, until shutdown.
    /// The loop gets the token that asks it to stop and should return
    /// `Ok(())` soon after it is cancelled, between passes. A loop that
    /// returns an error, panics, or returns while not asked to stop is
    /// logged and made again after a pause.
    pub fn spawn<F, Fut, E>(&self, name: &'static str, worker: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<anyhow::Error> + Send + 'static,
    {
        let workers = self.clone();
        self.tracker.spawn(
            workers
                .supervise(name, worker)
                .instrument(tracing::info_span!("worker", name)),
        );
    }

    /// Runs `pass` every `interval` (the first at once) until shutdown, as
    /// the worker `name`; a pass that fails is a failure of the worker.
    pub fn spawn_every<P, Fut, E>(&self, name: &'static str, interval: Duration, pass: P)
    where
        P: FnMut() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<anyhow::Error> + Send + 'static,
    {
        self.spawn(name, move |stop: CancellationToken| {
            let mut pass = pass.clone();
            async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => return Ok::<(), E>(()),
                        _ = tick.tick() => {}
                    }
                    pass().await?;
                }
            }
        });
    }

    /// Asks every worker to stop and waits for them up to `grace`; those
    /// still running then are logged and dropped. Answers the names of the
    /// workers that did not stop in time (none, normally).
    pub async fn shutdown(&self, grace: Duration) -> Vec<&'static str> {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            tracing::info!("workers stopped");
            return Vec::new();
        }
        let late: Vec<&'static str> = self.running().into_keys().collect();
        tracing::warn!(?grace, workers = ?late, "workers did not stop in time; dropping them");
        self.abort.cancel();
        if tokio::time::timeout(DROP_WAIT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::error!(workers = ?self.running().into_keys().collect::<Vec<_>>(),
                "workers are still running after being dropped");
        }
        late
    }

    /// The workers alive now, by name, with how many of each.
    pub fn running(&self) -> BTreeMap<&'static str, usize> {
        self.running.lock().expect("workers lock").clone()
    }

    async fn supervise<F, Fut, E>(self, name: &'static str, mut worker: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<anyhow::Error> + Send + 'static,
    {
        let _alive = Alive::new(&self.running, name);
        let mut pause = self.restart.first;
        while !self.stop.is_cancelled() {
            let started = Instant::now();
            // A task of its own, so that a panic ends the run, not this loop.
            let mut run = self
                .tracker
                .spawn(worker(self.stop.clone()).instrument(tracing::Span::current()));
            let outcome = tokio::select! {
                outcome = &mut run => outcome,
                () = self.abort.cancelled() => {
                    run.abort();
                    let _ = run.await;
                    return;
                }
            };
            if started.elapsed() >= self.restart.max {
                pause = self.restart.first;
            }
            match outcome {
                Ok(Ok(())) if self.stop.is_cancelled() => return,
                Ok(Ok(())) => tracing::error!("worker ended on its own; restarting"),
                Ok(Err(error)) => {
                    let error: anyhow::Error = error.into();
                    tracing::warn!(
                        error = format!("{error:#}"),
                        ?pause,
                        "worker failed; restarting"
                    );
                }
                Err(join) if join.is_panic() => {
                    let panic = panic_message(join.into_panic());
                    tracing::error!(%panic, ?pause, "worker panicked; restarting");
                }
                Err(_) => tracing::error!("worker was cancelled; restarting"),
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.stop.cancelled() => return,
            }
            pause = (pause * 2).min(self.restart.max);
        }
    }
}

/// Counts a worker among the running while it is alive.
struct Alive {
    running: Arc<Mutex<BTreeMap<&'static str, usize>>>,
    name: &'static str,
}

impl Alive {
    fn new(running: &Arc<Mutex<BTreeMap<&'static str, usize>>>, name: &'static str) -> Self {
        *running
            .lock()
            .expect("workers lock")
            .entry(name)
            .or_default() += 1;
        Self {
            running: running.clone(),
            name,
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        let mut running = self.running.lock().expect("workers lock");
        if let Some(count) = running.get_mut(self.name) {
            *count -= 1;
            if *count == 0 {
                running.remove(self.name);
            }
        }
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_owned(),
            |m| (*m).to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// What the workers log, for a test on tokio's current-thread runtime
    /// (the subscriber is the thread's).
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Logs {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let logs = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || logs.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const QUICK: Restart = Restart {
        first: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };

    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_worker_stops_between_passes_at_shutdown_and_runs_no_more() {
        let workers = Workers::new();
        let (started, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, f) = (started.clone(), finished.clone());
        workers.spawn_every("counter", Duration::from_millis(5), move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                // A pass long enough for shutdown to come in its middle.
                tokio::time::sleep(Duration::from_millis(40)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            }
        });
        until("three passes", || started.load(Ordering::SeqCst) >= 3).await;
        assert_eq!(workers.running().get("counter"), Some(&1));

        let asked = Instant::now();
        assert!(workers.shutdown(Duration::from_secs(2)).await.is_empty());
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "stopped within the grace"
        );
        assert!(workers.running().is_empty());
        let passes = started.load(Ordering::SeqCst);
        assert_eq!(
            finished.load(Ordering::SeqCst),
            passes,
            "the pass under way finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            passes,
            "no pass after shutdown"
        );
    }

    #[tokio::test]
    async fn a_failing_worker_is_logged_and_restarted_after_a_growing_pause() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let workers = Workers::with_restart(QUICK);
        let runs = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let passes = Arc::new(AtomicUsize::new(0));
        let (r, p) = (runs.clone(), passes.clone());
        workers.spawn("flaky", move |stop: CancellationToken| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let run = {
                    let mut runs = r.lock().unwrap();
                    runs.push(Instant::now());
                    runs.len()
                };
                match run {
                    1 => {
                        let cause = std::io::Error::other("connection refused");
                        Err(anyhow::Error::new(cause).context("cannot reach the database"))
                    }
                    // Ending while not asked to stop is a failure too.
                    2 => Ok(()),
                    _ => {
                        while !stop.is_cancelled() {
                            p.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Ok(())
                    }
                }
            }
        });
        until("a third run that works", || {
            passes.load(Ordering::SeqCst) >= 3
        })
        .await;
        let times = runs.lock().unwrap().clone();
        assert_eq!(times.len(), 3);
        assert!(
            times[1] - times[0] >= QUICK.first,
            "paused after the first failure"
        );
        assert!(times[2] - times[1] >= QUICK.first * 2, "the pause doubled");
        let before = passes.load(Ordering::SeqCst);
        until("more passes", || passes.load(Ordering::SeqCst) > before + 2).await;
        assert!(workers.shutdown(Duration::from_secs(2)).await.is_empty());

        let logs = logs.text();
        assert!(
            logs.contains("worker failed; restarting")
                && logs.contains("cannot reach the database: connection refused")
                && logs.contains("flaky"),
            "the failure is logged with its causes and the worker's name: {logs}"
        );
        assert!(
            logs.contains("worker ended on its own; restarting"),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn a_panicking_worker_is_logged_and_restarted() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let workers = Workers::with_restart(QUICK);
        let runs = Arc::new(AtomicUsize::new(0));
        let passes = Arc::new(AtomicUsize::new(0));
        let (r, p) = (runs.clone(), passes.clone());
        workers.spawn_every("brittle", Duration::from_millis(5), move || {
            let (r, p) = (r.clone(), p.clone());
            async move {
                // The first run's second pass panics.
                if p.fetch_add(1, Ordering::SeqCst) == 1 {
                    r.fetch_add(1, Ordering::SeqCst);
                    panic!("a counter went negative");
                }
                Ok::<_, std::io::Error>(())
            }
        });
        until("passes after the panic", || {
            passes.load(Ordering::SeqCst) >= 5
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            workers.running().get("brittle"),
            Some(&1),
            "still supervised"
        );
        assert!(workers.shutdown(Duration::from_secs(2)).await.is_empty());
        let logs = logs.text();
        assert!(
            logs.contains("worker panicked; restarting")
                && logs.contains("a counter went negative"),
            "{logs}"
        );
    }

    /// Sets its flag when dropped.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_past_its_grace_for_a_stuck_worker() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let workers = Workers::new();
        let in_pass = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        let (i, d) = (in_pass.clone(), dropped.clone());
        workers.spawn("stuck", move |_stop: CancellationToken| {
            let (i, d) = (i.clone(), d.clone());
            async move {
                let _pass = Dropped(d);
                i.store(true, Ordering::SeqCst);
                // A pass that never ends and never looks at its token.
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(())
            }
        });
        workers.spawn_every("quick", Duration::from_millis(5), || async {
            Ok::<_, std::io::Error>(())
        });
        until("the stuck pass", || in_pass.load(Ordering::SeqCst)).await;

        let grace = Duration::from_millis(150);
        let asked = Instant::now();
        assert_eq!(workers.shutdown(grace).await, ["stuck"]);
        let took = asked.elapsed();
        assert!(
            took >= grace && took < grace + Duration::from_millis(500),
            "{took:?}"
        );
        assert!(dropped.load(Ordering::SeqCst), "the stuck pass was dropped");
        assert!(workers.running().is_empty());
        let logs = logs.text();
        assert!(
            logs.contains("workers did not stop in time") && logs.contains("stuck"),
            "{logs}"
        );
    }
}
