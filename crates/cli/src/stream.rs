//! The live streams: waiting for a purchase's code (with a spinner on a
//! terminal), watching an activation's events or every message, and
//! following a rental's or a rented number's new SMS.
//!
//! A stream that drops (the server restarts, or a replica goes away) is
//! opened again after the cursor of the last event received, so no event is
//! lost or shown twice.

use std::collections::HashSet;
use std::time::Duration;

use numhub_proto::orders::v1::activation_event::Event;
use numhub_proto::orders::v1::{
    Activation, ActivationStatus, Message, WatchActivationRequest, WatchMessagesRequest,
};
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_proto::rentals::v1::rental_event::Event as RentalEvent;
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;
use tonic_types::StatusExt as _;

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

/// The messages of a rental already shown, which following it skips: the
/// first `count` messages of its history, and any of `ids`.
#[derive(Debug, Default)]
pub struct Shown {
    pub count: i64,
    pub ids: HashSet<String>,
}

impl Shown {
    /// Whether the next message of the history was shown already.
    fn skip(&mut self, message: &rentals_pb::Message) -> bool {
        if self.count > 0 {
            self.count -= 1;
            return true;
        }
        self.ids.contains(&message.id)
    }
}

fn print_rental_message(
    console: &mut Console<'_>,
    json: bool,
    message: &rentals_pb::Message,
) -> std::io::Result<()> {
    if json {
        console.json(&output::rental_message_json(message))
    } else {
        console.print(&output::rental_message_text(message))
    }
}

/// Prints each SMS of rental `id` as it arrives (those in `shown` were
/// printed already), until the rental ends; then says how it ended on
/// standard error.
pub async fn follow_rental(
    clients: &Clients,
    console: &mut Console<'_>,
    json: bool,
    id: &str,
    mut shown: Shown,
) -> Result<(), Failure> {
    let mut rentals = clients.rentals();
    let mut cursor = String::new();
    let mut reconnect = Reconnect::default();
    // The event that ended the rental, once seen: nothing can follow it.
    let mut ended = None;
    while ended.is_none() {
        let request = rentals_pb::WatchRentalRequest {
            id: id.to_owned(),
            after: cursor.clone(),
        };
        let mut stream = match rentals.watch_rental(request).await {
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
                    cursor = event.cursor;
                    match event.event {
                        Some(RentalEvent::Message(m)) if !shown.skip(&m) => {
                            print_rental_message(console, json, &m)?;
                        }
                        Some(RentalEvent::Changed(r)) if output::rental_is_terminal(r.status) => {
                            ended = Some(r);
                        }
                        _ => {}
                    }
                }
                // Ended (before the rental did: open it again).
                Ok(None) => break,
                Err(_) if ended.is_some() => break,
                Err(e) if Reconnect::retryable(&e) => {
                    reconnect.pause(e).await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(r) = ended {
        console.note(&format!(
            "rental {} ended {}: its number receives no more SMS",
            output::clean(&r.id),
            output::rental_status_name(r.status)
        ))?;
    }
    Ok(())
}

/// How often following a number asks for its new SMS: well inside the
/// default rate limit of a key.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How long to wait after a rate limit that says no more.
const RATE_LIMITED_PAUSE: Duration = Duration::from_secs(10);

/// The most messages ListMessages answers at once.
const MESSAGES_PAGE: i32 = 100;

/// Every message of `phone_number` after `page_token`, oldest first,
/// following the pages to the last (a short one); `page_token` moves to
/// right after the last message, for the next call.
pub async fn messages_after(
    clients: &Clients,
    phone_number: &str,
    page_token: &mut String,
) -> Result<Vec<rentals_pb::Message>, tonic::Status> {
    let mut rentals = clients.rentals();
    let mut messages = Vec::new();
    loop {
        let request = rentals_pb::ListMessagesRequest {
            phone_number: phone_number.to_owned(),
            page_size: MESSAGES_PAGE,
            page_token: page_token.clone(),
        };
        let page = rentals.list_messages(request).await?.into_inner();
        let full = page.messages.len() >= MESSAGES_PAGE as usize;
        messages.extend(page.messages);
        // Never empty, but an old server's empty token would start over.
        if !page.next_page_token.is_empty() {
            *page_token = page.next_page_token;
        }
        if !full {
            return Ok(messages);
        }
    }
}

/// Prints each new SMS of a rented number after `page_token`, asking every
/// couple of seconds, until interrupted.
pub async fn follow_number(
    clients: &Clients,
    console: &mut Console<'_>,
    json: bool,
    phone_number: &str,
    mut page_token: String,
) -> Result<(), Failure> {
    let mut reconnect = Reconnect::default();
    loop {
        sleep(POLL_INTERVAL).await;
        match messages_after(clients, phone_number, &mut page_token).await {
            Ok(messages) => {
                reconnect.reset();
                for m in &messages {
                    print_rental_message(console, json, m)?;
                }
            }
            Err(e) if Reconnect::retryable(&e) => reconnect.pause(e).await?,
            Err(e) if e.code() == Code::ResourceExhausted => {
                let delay = e
                    .get_error_details()
                    .retry_info()
                    .and_then(|r| r.retry_delay)
                    .unwrap_or(RATE_LIMITED_PAUSE);
                sleep(delay).await;
            }
            Err(e) => return Err(e.into()),
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

    fn message(id: &str) -> rentals_pb::Message {
        rentals_pb::Message {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn following_a_rental_skips_what_was_shown() {
        // Two messages counted, a third shown but not yet counted.
        let mut shown = Shown {
            count: 2,
            ids: ["c".to_owned()].into(),
        };
        assert!(shown.skip(&message("a")));
        assert!(shown.skip(&message("b")));
        assert!(shown.skip(&message("c")));
        assert!(!shown.skip(&message("d")));
        assert!(!Shown::default().skip(&message("a")));
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
