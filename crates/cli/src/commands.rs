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
