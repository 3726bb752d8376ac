//! Alerts: chosen events (a failover, a PC over its limit, …) POSTed as JSON to a webhook
//! the office chooses (a chat bridge, a ticketing system). Sent from a task of their own
//! with a short timeout and a few retries, so a slow or dead receiver never holds up the
//! daemon; what could not be delivered is logged.
//!
//! `[alerts] webhook = "http://…"`, `events = ["wan.failover", …]` (`source.kind` of the
//! events table; default: failover, failback, all channels down, over limit, new access
//! requests).
//!
//! Subscribes to the store's events (`Store::on_event`, set up by the daemon); the store
//! knows nothing of alerts. Must not block the caller of `Store::event`: `offer` only
//! queues.

use std::time::Duration;

use serde::Deserialize;

use crate::store::Event;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where to POST: `http://` or `https://`. Required.
    pub webhook: String,
    /// Which events, as `source.kind`. Default: `wan.failover`, `wan.failback`,
    /// `wan.all_down`, `limits.over_limit`, `requests.new` (an employee asks for a site).
    #[serde(default = "default_events")]
    pub events: Vec<String>,
}

fn default_events() -> Vec<String> {
    [
        "wan.failover",
        "wan.failback",
        "wan.all_down",
        "limits.over_limit",
        "requests.new",
    ]
    .map(String::from)
    .to_vec()
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.webhook.starts_with("http://") || self.webhook.starts_with("https://")) {
            return Err(format!(
                "[alerts] webhook must be an http:// or https:// URL, not `{}`",
                self.webhook
            ));
        }
        Ok(())
    }
}

/// Tries per alert, and the pause before each retry.
const RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];
const TIMEOUT: Duration = Duration::from_secs(5);
/// Alerts waiting beyond this are dropped (and logged): a dead receiver must not grow
/// memory without bound.
const QUEUE: usize = 256;

#[derive(Clone)]
pub struct Alerts {
    events: std::sync::Arc<Vec<String>>,
    tx: std::sync::mpsc::SyncSender<Event>,
}

impl Alerts {
    /// Starts the sender thread.
    pub fn start(cfg: &AlertsConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Event>(QUEUE);
        let url = cfg.webhook.clone();
        let spawned = std::thread::Builder::new()
            .name("og-alerts".into())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(TIMEOUT))
                    .build()
                    .into();
                while let Ok(e) = rx.recv() {
                    send(&agent, &url, &e);
                }
            });
        if let Err(e) = spawned {
            tracing::error!("alerts disabled: cannot start their thread: {e}");
        }
        Alerts {
            events: std::sync::Arc::new(cfg.events.clone()),
            tx,
        }
    }

    /// Queues `e` if it is one of the chosen events; never blocks.
    pub fn offer(&self, e: &Event) {
        let key = format!("{}.{}", e.source, e.kind);
        if self.events.contains(&key) && self.tx.try_send(e.clone()).is_err() {
            tracing::warn!(event = %key, "alert dropped: the webhook is not keeping up");
        }
    }
}

fn send(agent: &ureq::Agent, url: &str, e: &Event) {
    let body = serde_json::json!({
        "source": e.source,
        "kind": e.kind,
        "subject": e.subject,
        "message": e.message,
        "at_ms": e.at_ms,
        "details": e.details,
    });
    let mut last = String::new();
    for pause in std::iter::once(Duration::ZERO).chain(RETRIES) {
        std::thread::sleep(pause);
        let sent = agent
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string());
        match sent {
            Ok(_) => return,
            Err(err) => last = err.to_string(),
        }
    }
    tracing::warn!(webhook = url, kind = %e.kind, "alert not delivered: {last}");
}
