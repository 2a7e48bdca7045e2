//! What each command does: one or a few RPCs, and its output.

use numhub_proto::accounts::v1 as accounts_pb;
use numhub_proto::catalog::v1 as catalog_pb;
use numhub_proto::common::v1::Scope;
use numhub_proto::orders::v1 as orders_pb;
use numhub_proto::orders::v1::{Activation, ActivationStatus};
use numhub_proto::wallet::v1 as wallet_pb;

use crate::Console;
use crate::cli::{BuyArgs, Cli, Command, HistoryArgs, KeysCommand, ReuseArgs, WaitArgs};
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
        let mut catalog = self.clients.catalog();
        let mut services = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = catalog
                .list_services(catalog_pb::ListServicesRequest {
                    page_size: 0,
                    page_token,
                })
                .await?
                .into_inner();
            services.extend(page.services);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        if self.json {
            for s in &services {
                console.json(&output::service_json(s))?;
            }
        } else {
            console.print(&output::services_text(&services))?;
        }
        Ok(())
    }

    async fn countries(
        &self,
        service_code: Option<String>,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let mut catalog = self.clients.catalog();
        let service_code = service_code.as_deref().map(service).unwrap_or_default();
        let mut offers = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = catalog
                .list_countries(catalog_pb::ListCountriesRequest {
                    service_code: service_code.clone(),
                    page_size: 0,
                    page_token,
                })
                .await?
                .into_inner();
            offers.extend(page.countries);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        if self.json {
            for offer in &offers {
                console.json(&output::country_json(offer))?;
            }
        } else {
            console.print(&output::countries_text(&offers, !service_code.is_empty()))?;
        }
        Ok(())
    }

    async fn prices(
        &self,
        service_code: Option<String>,
        country_code: Option<String>,
        console: &mut Console<'_>,
    ) -> Result<(), Failure> {
        let mut catalog = self.clients.catalog();
        let service_code = service_code.as_deref().map(service).unwrap_or_default();
        let country_code = country_code.as_deref().map(country).unwrap_or_default();
        let mut prices = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = catalog
                .list_prices(catalog_pb::ListPricesRequest {
                    service_code: service_code.clone(),
                    country_code: country_code.clone(),
                    page_size: 0,
                    page_token,
                })
                .await?
                .into_inner();
            prices.extend(page.prices);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        if self.json {
            for p in &prices {
                console.json(&output::price_json(p))?;
            }
        } else {
            console.print(&output::prices_text(&prices))?;
        }
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
        let mut orders = self.clients.orders();
        let statuses: Vec<i32> = args
            .status
            .iter()
            .map(|s| ActivationStatus::from(*s) as i32)
            .collect();
        let limit = args.limit as usize;
        let mut activations = Vec::new();
        let mut page_token = String::new();
        while activations.len() < limit {
            let page_size = (limit - activations.len()).min(100) as i32;
            let page = orders
                .list_activations(orders_pb::ListActivationsRequest {
                    statuses: statuses.clone(),
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            activations.extend(page.activations);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        activations.truncate(limit);
        if self.json {
            for a in &activations {
                console.json(&output::activation_json(a))?;
            }
        } else {
            console.print(&output::history_text(&activations))?;
        }
        Ok(())
    }

    async fn keys(&self, command: KeysCommand, console: &mut Console<'_>) -> Result<(), Failure> {
        let mut accounts = self.clients.accounts();
        match command {
            KeysCommand::List { all } => {
                let mut keys = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = accounts
                        .list_api_keys(accounts_pb::ListApiKeysRequest {
                            page_size: 100,
                            page_token,
                            show_revoked: all,
                        })
                        .await?
                        .into_inner();
                    keys.extend(page.api_keys);
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                if self.json {
                    for k in &keys {
                        console.json(&output::key_json(k))?;
                    }
                } else {
                    console.print(&output::keys_text(&keys))?;
                }
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
