//! What each command does: one or a few RPCs, and its output.

use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::common::v1::Scope;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::orders::v1::{Activation, ActivationStatus};
use numhub_proto::rentals::v1 as rentals_pb;
use numhub_proto::wallet::v1 as wallet_pb;

use crate::Console;
use crate::cli::{
    BuyArgs, CancelRentalArgs, Cli, Command, HistoryArgs, InboxArgs, InboxTarget, KeysCommand,
    RenewArgs, RentArgs, RentalsCommand, RentalsListArgs, ReuseArgs, Switch, WaitArgs,
};
use crate::client::{self, Auth, Clients};
use crate::error::Failure;
use crate::output;
use crate::stream;

/// Runs the parsed command against numhub at `addr`.
pub async fn execute(cli: Cli, addr: &str, console: &mut Console<'_>) -> Result<(), Failure> {
    let auth = Auth::new(cli.global.key.as_ref())?;
    let channel = client::connect(addr).await?;
    let session = Session {
        clients: Clients::new(channel, auth),
        json: cli.global.json,
    };
    session.execute(cli.command, console).await
}

struct Session {
    clients: Clients,
    json: bool,
}

/// A country code as the catalog spells it ("us" is "US").
/// Every item of a paged list, up to `limit`: `fetch` takes a page token
/// and how many items are still wanted, and answers a page's items and the
/// next token (empty on the last page).
async fn all_pages<T, F, Fut>(limit: usize, mut fetch: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(String, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    while items.len() < limit {
        let (page, next) = fetch(page_token, limit - items.len()).await?;
        items.extend(page);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    items.truncate(limit);
    Ok(items)
}

fn country(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// A service code as the catalog spells it ("WA" is "wa").
fn service(code: &str) -> String {
    code.trim().to_ascii_lowercase()
}

/// The request id to buy with: the given one, or a new UUIDv7.
fn request_id(given: Option<String>) -> String {
    given.unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

impl Session {
    async fn execute(&self, command: Command, console: &mut Console<'_>) -> Result<(), Failure> {
        match command {
            Command::Balance => self.balance(console).await,
            Command::Services => self.services(console).await,
            Command::Countries { service } => self.countries(service, console).await,
            Command::Prices { service, country } => self.prices(service, country, console).await,
            Command::Buy(args) => self.buy(args, console).await,
            Command::Watch(args) => match args.id {
                Some(id) => {
                    stream::watch_activation(
                        &self.clients,
                        console,
                        self.json,
                        &id,
                        args.after,
                        args.limit,
                    )
                    .await
                }
                None => {
                    stream::watch_messages(
                        &self.clients,
                        console,
                        self.json,
                        args.after,
                        args.limit,
                    )
                    .await
                }
            },
            Command::Cancel(arg) => {
                let request = orders_pb::CancelActivationRequest { id: arg.id };
                let a = self.clients.orders().cancel_activation(request).await?;
                self.show_activation(&a.into_inner(), console)
            }
            Command::Complete(arg) => {
                let request = orders_pb::CompleteActivationRequest { id: arg.id };
                let a = self.clients.orders().complete_activation(request).await?;
                self.show_activation(&a.into_inner(), console)
            }
            Command::Skip(arg) => {
                let request = orders_pb::SkipNumberRequest { id: arg.id };
                let a = self.clients.orders().skip_number(request).await?;
                self.show_activation(&a.into_inner(), console)
            }
            Command::AnotherSms(arg) => {
                let request = orders_pb::RequestAnotherSmsRequest { id: arg.id };
                let a = self.clients.orders().request_another_sms(request).await?;
                self.show_activation(&a.into_inner(), console)
            }
            Command::Reuse(args) => self.reuse(args, console).await,
            Command::Get(arg) => {
                let request = orders_pb::GetActivationRequest { id: arg.id };
                let a = self.clients.orders().get_activation(request).await?;
                self.show_activation(&a.into_inner(), console)
            }
            Command::History(args) => self.history(args, console).await,
            Command::Rent(args) => self.rent(args, console).await,
            Command::Rentals(args) => match args.command {
                None => self.list_rentals(args.list, console).await,
                Some(command) => self.rentals(command, console).await,
            },
            Command::Inbox(args) => self.inbox(args, console).await,
            Command::Keys(command) => self.keys(command, console).await,
        }
    }

    fn show_activation(&self, a: &Activation, console: &mut Console<'_>) -> Result<(), Failure> {
        if self.json {
            console.json(&output::activation_json(a))?;
        } else {
            console.print(&output::activation_text(a))?;
        }
        Ok(())
    }

    async fn balance(&self, console: &mut Console<'_>) -> Result<(), Failure> {
        let balance = self
            .clients
            .wallet()
            .get_balance(wallet_pb::GetBalanceRequest {})
            .await?
            .into_inner();
        if self.json {
            console.json(&output::balance_json(&balance))?;
        } else {
            console.print(&output::balance_text(&balance))?;
        }
        Ok(())
    }

    async fn services(&self, console: &mut Console<'_>) -> Result<(), Failure> {
        let catalog = self.clients.catalog();
        let services = all_pages(usize::MAX, |page_token, _| {
            let mut catalog = catalog.clone();
            async move {
                let request = catalog_pb::ListServicesRequest {
                    page_size: 0,
                    page_token,
                };
                let page = catalog.list_services(request).await?.into_inner();
                Ok((page.services, page.next_page_token))
            }
        })
        .await?;
        self.show_list(
            console,
            &services,
            output::service_json,
            output::services_text,
        )?;
        Ok(())
    }

    async fn countries(
        &self,
        service_code: Option<String>,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let catalog = self.clients.catalog();
        let service_code = service_code.as_deref().map(service).unwrap_or_default();
        let offers = all_pages(usize::MAX, |page_token, _| {
            let mut catalog = catalog.clone();
            let service_code = service_code.clone();
            async move {
                let request = catalog_pb::ListCountriesRequest {
                    service_code,
                    page_size: 0,
                    page_token,
                };
                let page = catalog.list_countries(request).await?.into_inner();
                Ok((page.countries, page.next_page_token))
            }
        })
        .await?;
        self.show_list(console, &offers, output::country_json, |list| {
            output::countries_text(list, !service_code.is_empty())
        })?;
        Ok(())
    }

    async fn prices(
        &self,
        service_code: Option<String>,
        country_code: Option<String>,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let catalog = self.clients.catalog();
        let service_code = service_code.as_deref().map(service).unwrap_or_default();
        let country_code = country_code.as_deref().map(country).unwrap_or_default();
        let prices = all_pages(usize::MAX, |page_token, _| {
            let mut catalog = catalog.clone();
            let (service_code, country_code) = (service_code.clone(), country_code.clone());
            async move {
                let request = catalog_pb::ListPricesRequest {
                    service_code,
                    country_code,
                    page_size: 0,
                    page_token,
                };
                let page = catalog.list_prices(request).await?.into_inner();
                Ok((page.prices, page.next_page_token))
            }
        })
        .await?;
        self.show_list(console, &prices, output::price_json, output::prices_text)?;
        Ok(())
    }

    async fn buy(&self, args: BuyArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let request = orders_pb::CreateActivationRequest {
            service_code: service(&args.service),
            country_code: country(&args.country),
            operator: args
                .operator
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            max_price: args.max_price.map(|p| p.0),
            request_id: request_id(args.request_id),
        };
        let request_id = request.request_id.clone();
        let activation = self
            .clients
            .orders()
            .create_activation(request)
            .await
            .map_err(|status| Failure::purchase(status, &request_id))?
            .into_inner();
        self.bought(activation, &args.wait, console).await
    }

    async fn reuse(&self, args: ReuseArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let request = orders_pb::ReuseNumberRequest {
            activation_id: args.id,
            max_price: args.max_price.map(|p| p.0),
            request_id: request_id(args.request_id),
        };
        let request_id = request.request_id.clone();
        let activation = self
            .clients
            .orders()
            .reuse_number(request)
            .await
            .map_err(|status| Failure::purchase(status, &request_id))?
            .into_inner();
        self.bought(activation, &args.wait, console).await
    }

    /// Shows a purchase; with --wait, then waits for its code.
    async fn bought(
        &self,
        activation: Activation,
        wait: &WaitArgs,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        if !wait.wait {
            return self.show_activation(&activation, console);
        }
        if self.json {
            // A script needs the number before the code can come.
            console.json(&output::activation_json(&activation))?;
        } else {
            console.note(&format!(
                "bought {} for {} in {} at {} (activation {}); waiting for its code",
                output::clean(&activation.phone_number),
                output::clean(&activation.service_code),
                output::clean(&activation.country_code),
                output::money_text(activation.price.as_ref()),
                output::clean(&activation.id),
            ))?;
        }
        stream::wait_for_code(&self.clients, console, self.json, &activation, wait.timeout).await
    }

    async fn history(&self, args: HistoryArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let orders = self.clients.orders();
        let statuses: Vec<i32> = args
            .status
            .iter()
            .map(|s| ActivationStatus::from(*s) as i32)
            .collect();
        let activations = all_pages(args.limit as usize, |page_token, wanted| {
            let mut orders = orders.clone();
            let statuses = statuses.clone();
            async move {
                let request = orders_pb::ListActivationsRequest {
                    statuses,
                    page_size: wanted.min(100) as i32,
                    page_token,
                };
                let page = orders.list_activations(request).await?.into_inner();
                Ok((page.activations, page.next_page_token))
            }
        })
        .await?;
        self.show_list(
            console,
            &activations,
            output::activation_json,
            output::history_text,
        )?;
        Ok(())
    }

    /// A list of results: a JSON object a line, or the text table.
    fn show_list<T>(
        &self,
        console: &mut Console<'_>,
        items: &[T],
        json: impl Fn(&T) -> serde_json::Value,
        text: impl FnOnce(&[T]) -> String,
    ) -> Result<(), Failure> {
        if self.json {
            for item in items {
                console.json(&json(item))?;
            }
        } else {
            console.print(&text(items))?;
        }
        Ok(())
    }

    async fn rent(&self, args: RentArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let request = rentals_pb::CreateRentalRequest {
            country_code: country(&args.country),
            number_type: catalog_pb::NumberType::from(args.number_type) as i32,
            duration: catalog_pb::RentalDuration::from(args.duration) as i32,
            service_code: args.service.as_deref().map(service).unwrap_or_default(),
            // Unset means on.
            auto_renew: args.no_auto_renew.then_some(false),
            request_id: request_id(args.request_id),
            max_price: args.max_price.map(|p| p.0),
        };
        let request_id = request.request_id.clone();
        let rented = self
            .clients
            .rentals()
            .create_rental(request)
            .await
            .map_err(|status| Failure::purchase(status, &request_id))?
            .into_inner();
        let rental = rented.rental.unwrap_or_default();
        let (charged, balance) = (rented.charged.as_ref(), rented.balance_after.as_ref());
        if self.json {
            console.json(&output::charged_json(&rental, charged, balance))?;
        } else {
            console.print(&output::charged_text(&rental, charged, balance))?;
        }
        if !args.wait {
            return Ok(());
        }
        if !self.json {
            console.note(&format!(
                "waiting for SMS on {}; Ctrl-C stops (the rental stays yours)",
                output::clean(&rental.phone_number)
            ))?;
        }
        stream::follow_rental(
            &self.clients,
            console,
            self.json,
            &rental.id,
            stream::Shown::default(),
        )
        .await
    }

    fn show_rental(
        &self,
        r: &rentals_pb::Rental,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        if self.json {
            console.json(&output::rental_json(r))?;
        } else {
            console.print(&output::rental_text(r))?;
        }
        Ok(())
    }

    async fn list_rentals(
        &self,
        args: RentalsListArgs,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let client = self.clients.rentals();
        let filter = rentals_pb::RentalFilter::from(args.filter) as i32;
        let rentals = all_pages(args.limit as usize, |page_token, wanted| {
            let mut client = client.clone();
            async move {
                let request = rentals_pb::ListRentalsRequest {
                    filter,
                    page_size: wanted.min(100) as i32,
                    page_token,
                };
                let page = client.list_rentals(request).await?.into_inner();
                Ok((page.rentals, page.next_page_token))
            }
        })
        .await?;
        self.show_list(console, &rentals, output::rental_json, output::rentals_text)?;
        Ok(())
    }

    async fn rentals(
        &self,
        command: RentalsCommand,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let mut rentals = self.clients.rentals();
        match command {
            RentalsCommand::List(args) => self.list_rentals(args, console).await,
            RentalsCommand::Show(arg) => {
                let request = rentals_pb::GetRentalRequest { id: arg.id };
                let r = rentals.get_rental(request).await?.into_inner();
                self.show_rental(&r, console)
            }
            RentalsCommand::Renew(args) => self.renew(args, console).await,
            RentalsCommand::Cancel(args) => self.cancel_rental(args, console).await,
            RentalsCommand::AutoRenew { id, state } => {
                let request = rentals_pb::SetAutoRenewRequest {
                    id,
                    auto_renew: state == Switch::On,
                };
                let r = rentals.set_auto_renew(request).await?.into_inner();
                self.show_rental(&r, console)
            }
        }
    }

    async fn renew(&self, args: RenewArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let request = rentals_pb::RenewRentalRequest {
            id: args.id,
            // Unset means the rental's renewal package.
            duration: args
                .duration
                .map_or(0, |d| catalog_pb::RentalDuration::from(d) as i32),
            request_id: request_id(args.request_id),
            max_price: args.max_price.map(|p| p.0),
        };
        let request_id = request.request_id.clone();
        let renewed = self
            .clients
            .rentals()
            .renew_rental(request)
            .await
            .map_err(|status| Failure::renewal(status, &request_id))?
            .into_inner();
        let rental = renewed.rental.unwrap_or_default();
        let (charged, balance) = (renewed.charged.as_ref(), renewed.balance_after.as_ref());
        if self.json {
            console.json(&output::charged_json(&rental, charged, balance))?;
        } else {
            console.print(&output::charged_text(&rental, charged, balance))?;
        }
        Ok(())
    }

    async fn cancel_rental(
        &self,
        args: CancelRentalArgs,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let request = rentals_pb::CancelRentalRequest {
            id: args.id,
            request_id: request_id(args.request_id),
        };
        let cancelled = self
            .clients
            .rentals()
            .cancel_rental(request)
            .await?
            .into_inner();
        let rental = cancelled.rental.unwrap_or_default();
        let (refunded, balance) = (
            cancelled.refunded.as_ref(),
            cancelled.balance_after.as_ref(),
        );
        if self.json {
            console.json(&output::cancelled_json(&rental, refunded, balance))?;
        } else {
            console.print(&output::cancelled_text(&rental, refunded, balance))?;
            if output::refunded_nothing(refunded) {
                console.note(
                    "nothing was refunded: a rental is refunded only when cancelled within the \
                     refund window after its purchase and before any SMS",
                )?;
            }
        }
        Ok(())
    }

    async fn inbox(&self, args: InboxArgs, console: &mut Console<'_>) -> Result<(), Failure> {
        let limit = args.limit as usize;
        match args.target {
            InboxTarget::Rental(id) => self.rental_inbox(&id, limit, args.follow, console).await,
            InboxTarget::Number(number) => {
                self.number_inbox(&number, limit, args.follow, console)
                    .await
            }
        }
    }

    /// A rental's newest messages (GetRental's inbox), oldest first; with
    /// `follow`, then its new ones from WatchRental.
    async fn rental_inbox(
        &self,
        id: &str,
        limit: usize,
        follow: bool,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let request = rentals_pb::GetRentalRequest { id: id.to_owned() };
        let rental = self
            .clients
            .rentals()
            .get_rental(request)
            .await?
            .into_inner();
        let shown = stream::Shown {
            count: rental.sms_count,
            ids: rental.messages.iter().map(|m| m.id.clone()).collect(),
        };
        // Newest first from the server: the newest `limit`, oldest first.
        for m in rental.messages.iter().take(limit).rev() {
            if self.json {
                console.json(&output::rental_message_json(m))?;
            } else {
                console.print(&output::rental_message_text(m))?;
            }
        }
        let number = output::clean(&rental.phone_number);
        if !self.json {
            let listed = rental.messages.len().min(limit);
            let total = rental.sms_count.max(rental.messages.len() as i64);
            if listed == 0 && !follow {
                console.note(&format!("no SMS on {number} yet"))?;
            } else if (listed as i64) < total && listed < limit {
                console.note(&format!(
                    "showing the newest {listed} of {total} messages; `numhub inbox {number}` \
                     shows them all"
                ))?;
            } else if (listed as i64) < total {
                console.note(&format!(
                    "showing the newest {listed} of {total} messages; --limit shows more"
                ))?;
            }
        }
        if !follow {
            return Ok(());
        }
        if output::rental_is_terminal(rental.status) {
            console.note(&format!(
                "rental {} has ended {}: its number receives no more SMS",
                output::clean(&rental.id),
                output::rental_status_name(rental.status)
            ))?;
            return Ok(());
        }
        if !self.json {
            console.note(&format!("waiting for SMS on {number}; Ctrl-C stops"))?;
        }
        stream::follow_rental(&self.clients, console, self.json, &rental.id, shown).await
    }

    /// A rented number's newest messages (every page of ListMessages),
    /// oldest first; with `follow`, then its new ones, polling.
    async fn number_inbox(
        &self,
        number: &str,
        limit: usize,
        follow: bool,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let mut page_token = String::new();
        let messages = stream::messages_after(&self.clients, number, &mut page_token).await?;
        let newest = &messages[messages.len().saturating_sub(limit)..];
        for m in newest {
            if self.json {
                console.json(&output::rental_message_json(m))?;
            } else {
                console.print(&output::rental_message_text(m))?;
            }
        }
        if !self.json {
            if messages.len() > newest.len() {
                console.note(&format!(
                    "showing the newest {} of {} messages; --limit shows more",
                    newest.len(),
                    messages.len()
                ))?;
            }
            if follow {
                console.note(&format!("waiting for SMS on {number}; Ctrl-C stops"))?;
            } else if messages.is_empty() {
                console.note(&format!("no SMS on {number} yet"))?;
            }
        }
        if follow {
            stream::follow_number(&self.clients, console, self.json, number, page_token).await?;
        }
        Ok(())
    }

    async fn keys(&self, command: KeysCommand, console: &mut Console<'_>) -> Result<(), Failure> {
        let mut accounts = self.clients.accounts();
        match command {
            KeysCommand::List { all } => {
                let keys = all_pages(usize::MAX, |page_token, _| {
                    let mut accounts = accounts.clone();
                    async move {
                        let request = accounts_pb::ListApiKeysRequest {
                            page_size: 100,
                            page_token,
                            show_revoked: all,
                        };
                        let page = accounts.list_api_keys(request).await?.into_inner();
                        Ok((page.api_keys, page.next_page_token))
                    }
                })
                .await?;
                self.show_list(console, &keys, output::key_json, output::keys_text)?;
            }
            KeysCommand::Create { name, scopes } => {
                let scopes: Vec<i32> = if scopes.is_empty() {
                    vec![Scope::Read as i32, Scope::Write as i32]
                } else {
                    let mut scopes: Vec<i32> =
                        scopes.into_iter().map(|s| Scope::from(s) as i32).collect();
                    scopes.sort_unstable();
                    scopes.dedup();
                    scopes
                };
                let created = accounts
                    .create_api_key(accounts_pb::CreateApiKeyRequest { name, scopes })
                    .await?
                    .into_inner();
                let key = created.api_key.unwrap_or_default();
                if self.json {
                    let mut value = output::key_json(&key);
                    value["secret"] = created.secret.into();
                    console.json(&value)?;
                } else {
                    console.print(&output::key_text(&key, Some(&created.secret)))?;
                    console.note("the secret is shown only this once: store it now")?;
                }
            }
            KeysCommand::Revoke { id } => {
                let key = accounts
                    .revoke_api_key(accounts_pb::RevokeApiKeyRequest { api_key_id: id })
                    .await?
                    .into_inner();
                if self.json {
                    console.json(&output::key_json(&key))?;
                } else {
                    console.print(&output::key_text(&key, None))?;
                }
            }
        }
        Ok(())
    }
}
