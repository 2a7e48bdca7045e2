//! The live streams: waiting for a purchase's code (with a spinner on a
//! terminal), and watching an activation's events or every message.
//!
//! A stream that drops (the server restarts, or a replica goes away) is
//! opened again after the cursor of the last event received, so no event is
//! lost or shown twice.

use std::time::Duration;

use numhub_proto::orders::v1::activation_event::Event;
use numhub_proto::orders::v1::{
    Activation, ActivationStatus, Message, WatchActivationRequest, WatchMessagesRequest,
};
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;

use crate::Console;
use crate::client::Clients;
use crate::error::Failure;
use crate::output;

/// How many times in a row a dropped stream is opened again before the
/// command gives up.
const MAX_RECONNECTS: u32 = 6;

/// Opens dropped streams again, waiting longer after each failure in a row.
#[derive(Debug, Default)]
struct Reconnect {
    failures: u32,
}

impl Reconnect {
    /// Whether a stream's error is worth opening it again for.
    fn retryable(status: &tonic::Status) -> bool {
        status.code() == Code::Unavailable
    }

    /// Waits before the next attempt, or gives up with `status`.
    async fn pause(&mut self, status: tonic::Status) -> Result<(), Failure> {
        self.failures += 1;
        if self.failures > MAX_RECONNECTS {
            return Err(status.into());
        }
        let delay = Duration::from_millis(250 << self.failures.min(5));
        sleep(delay).await;
        Ok(())
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A one-line spinner on standard error, drawn only on a terminal.
struct Spinner {
    enabled: bool,
    drawn: bool,
    frame: usize,
    started: Instant,
    label: String,
}

impl Spinner {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

    fn new(enabled: bool, label: String) -> Self {
        Self {
            enabled,
            drawn: false,
            frame: 0,
            started: Instant::now(),
            label,
        }
    }

    fn draw(&mut self, console: &mut Console<'_>) -> std::io::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let elapsed = self.started.elapsed().as_secs();
        let frame = Self::FRAMES[self.frame % Self::FRAMES.len()];
        self.frame += 1;
        write!(
            console.err,
            "\r\x1b[2K{frame} {} {}:{:02}",
            self.label,
            elapsed / 60,
            elapsed % 60
        )?;
        self.drawn = true;
        console.err.flush()
    }

    fn clear(&mut self, console: &mut Console<'_>) -> std::io::Result<()> {
        if self.drawn {
            self.drawn = false;
            write!(console.err, "\r\x1b[2K")?;
            console.err.flush()?;
        }
        Ok(())
    }
}

/// Why waiting ended without a code.
fn ended_without_code(a: &Activation) -> Failure {
    let mut line = format!(
        "activation {} ended {} without a code",
        a.id,
        output::status_name(a.status)
    );
    if !a.failure_reason.is_empty() {
        line.push_str(&format!(" ({})", a.failure_reason));
    }
    if a.refunded.as_ref().is_some_and(|m| m.minor_units != 0) {
        line.push_str(&format!(
            "; {} refunded",
            output::money_text(a.refunded.as_ref())
        ));
    }
    Failure::Message(line)
}

fn timed_out(id: &str, status: i32, timeout: Duration) -> Failure {
    let mut line = format!(
        "no code within {} for activation {id} (still {})",
        humantime::format_duration(timeout),
        output::status_name(status)
    );
    if status == ActivationStatus::Waiting as i32 {
        line.push_str(&format!("; `numhub cancel {id}` refunds it"));
    }
    Failure::Message(line)
}

/// Waits for the first message with a code on `activation` and prints the
/// code alone (with --json, the message event). Fails when the activation
/// ends without one or `timeout` passes.
pub async fn wait_for_code(
    clients: &Clients,
    console: &mut Console<'_>,
    json: bool,
    activation: &Activation,
    timeout: Duration,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let label = format!(
        "waiting for the code on {}",
        output::clean(&activation.phone_number)
    );
    let mut spinner = Spinner::new(console.err_is_terminal, label);
    let result = wait(
        clients,
        console,
        &mut spinner,
        activation,
        deadline,
        timeout,
    )
    .await;
    spinner.clear(console)?;
    let (cursor, message) = result?;
    if json {
        console.json(&output::message_event_json(&cursor, &message))?;
    } else {
        console.print(&format!("{}\n", output::clean(&message.code)))?;
    }
    Ok(())
}

async fn wait(
    clients: &Clients,
    console: &mut Console<'_>,
    spinner: &mut Spinner,
    activation: &Activation,
    deadline: Instant,
    timeout: Duration,
) -> Result<(String, Message), Failure> {
    if output::is_terminal(activation.status) {
        return Err(ended_without_code(activation));
    }
    let id = activation.id.clone();
    let mut orders = clients.orders();
    let mut status = activation.status;
    let mut cursor = String::new();
    let mut reconnect = Reconnect::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let request = WatchActivationRequest {
            id: id.clone(),
            after: cursor.clone(),
        };
        let opened = tokio::select! {
            _ = sleep_until(deadline) => return Err(timed_out(&id, status, timeout)),
            opened = orders.watch_activation(request) => opened,
        };
        let mut stream = match opened {
            Ok(stream) => stream.into_inner(),
            Err(e) if Reconnect::retryable(&e) => {
                reconnect.pause(e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => return Err(timed_out(&id, status, timeout)),
                _ = tick.tick(), if spinner.enabled => spinner.draw(console)?,
                next = stream.message() => match next {
                    Ok(Some(event)) => {
                        reconnect.reset();
                        cursor = event.cursor;
                        match event.event {
                            Some(Event::Message(m)) if !m.code.is_empty() => {
                                return Ok((cursor, m));
                            }
                            Some(Event::Message(m)) => {
                                spinner.clear(console)?;
                                console.note(&format!(
                                    "an SMS without a code arrived from {}: {}",
                                    output::clean(&m.sender),
                                    output::clean(&m.body)
                                ))?;
                            }
                            Some(Event::StatusChanged(a)) => {
                                status = a.status;
                                if output::is_terminal(a.status) {
                                    return Err(ended_without_code(&a));
                                }
                            }
                            None => {}
                        }
                    }
                    // Ended before the activation did: open it again.
                    Ok(None) => break,
                    Err(e) if Reconnect::retryable(&e) => {
                        reconnect.pause(e).await?;
                        break;
                    }
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }
}

/// Prints one activation's events, one line each, until it ends (or
/// `limit` events).
pub async fn watch_activation(
    clients: &Clients,
    console: &mut Console<'_>,
    json: bool,
    id: &str,
    after: Option<String>,
    limit: Option<u64>,
) -> Result<(), Failure> {
    let mut orders = clients.orders();
    let mut cursor = after.unwrap_or_default();
    let mut reconnect = Reconnect::default();
    let mut shown = 0u64;
    loop {
        let request = WatchActivationRequest {
            id: id.to_owned(),
            after: cursor.clone(),
        };
        let mut stream = match orders.watch_activation(request).await {
            Ok(stream) => stream.into_inner(),
            Err(e) if Reconnect::retryable(&e) => {
                reconnect.pause(e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut ended = false;
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    reconnect.reset();
                    cursor = event.cursor.clone();
                    match &event.event {
                        Some(Event::StatusChanged(a)) => {
                            ended = output::is_terminal(a.status);
                            if json {
                                console.json(&output::status_event_json(&event.cursor, a))?;
                            } else {
                                console.print(&output::status_event_text(a))?;
                            }
                        }
                        Some(Event::Message(m)) => {
                            if json {
                                console.json(&output::message_event_json(&event.cursor, m))?;
                            } else {
                                console.print(&output::message_event_text(m))?;
                            }
                        }
                        None => continue,
                    }
                    shown += 1;
                    if limit.is_some_and(|limit| shown >= limit) {
                        return Ok(());
                    }
                }
                Ok(None) if ended => return Ok(()),
                Ok(None) => break,
                Err(e) if Reconnect::retryable(&e) => {
                    reconnect.pause(e).await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Prints every message that reaches the account's numbers, one line each,
/// until interrupted (or `limit` messages).
pub async fn watch_messages(
    clients: &Clients,
    console: &mut Console<'_>,
    json: bool,
    after: Option<String>,
    limit: Option<u64>,
) -> Result<(), Failure> {
    let mut orders = clients.orders();
    let mut cursor = after.unwrap_or_default();
    let mut reconnect = Reconnect::default();
    let mut shown = 0u64;
    loop {
        let request = WatchMessagesRequest {
            after: cursor.clone(),
        };
        let mut stream = match orders.watch_messages(request).await {
            Ok(stream) => stream.into_inner(),
            Err(e) if Reconnect::retryable(&e) => {
                reconnect.pause(e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    reconnect.reset();
                    cursor = event.cursor.clone();
                    let Some(m) = &event.message else { continue };
                    if json {
                        console.json(&output::message_event_json(&event.cursor, m))?;
                    } else {
                        console.print(&output::message_event_text(m))?;
                    }
                    shown += 1;
                    if limit.is_some_and(|limit| shown >= limit) {
                        return Ok(());
                    }
                }
                Ok(None) => break,
                Err(e) if Reconnect::retryable(&e) => {
                    reconnect.pause(e).await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(enabled: bool) -> String {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            err_is_terminal: enabled,
        };
        let mut spinner = Spinner::new(enabled, "waiting for the code on +1".into());
        spinner.draw(&mut console).unwrap();
        spinner.draw(&mut console).unwrap();
        spinner.clear(&mut console).unwrap();
        assert!(out.is_empty());
        String::from_utf8(err).unwrap()
    }

    #[tokio::test]
    async fn the_spinner_draws_on_a_terminal_only_and_clears_its_line() {
        assert_eq!(
            drawn(true),
            "\r\x1b[2K⠋ waiting for the code on +1 0:00\r\x1b[2K⠙ waiting for the code on +1 0:00\r\x1b[2K"
        );
        assert_eq!(drawn(false), "");
    }
}
