//! The wallet's public, admin and internal gRPC services: thin handlers that parse a request
//! (see [`crate::proto`]), call the domain, and map its answer. No rule lives here.

use numhub_auth::Caller;
use numhub_proto::wallet::v1 as pb;
use numhub_runtime::parse;
use numhub_runtime::tokens::TokenScope;
use tonic::{Request, Response, Status};

use crate::Wallet;
use crate::model::Command;
use crate::proto::{self, balance_to_proto, entry_to_proto};

const LIST_TRANSACTIONS: &str = "numhub.wallet.v1.WalletService/ListTransactions";

#[tonic::async_trait]
impl pb::wallet_service_server::WalletService for Wallet {
    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let caller = Caller::of(&request)?;
        let balance = self.balance_or_zero(&caller.account_id).await?;
        Ok(Response::new(balance_to_proto(balance)))
    }

    async fn list_transactions(
        &self,
        request: Request<pb::ListTransactionsRequest>,
    ) -> Result<Response<pb::ListTransactionsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let scope = TokenScope::new(LIST_TRANSACTIONS, &caller.account_id);
        let page = parse::request(parse::page(
            &self.tokens,
            &scope,
            (request.get_ref().page_size, &request.get_ref().page_token),
            proto::PAGE_SIZES,
        ))?;
        let (entries, next) = self
            .list(&caller.account_id, page.cursor.as_deref(), page.size)
            .await?;
        Ok(Response::new(pb::ListTransactionsResponse {
            transactions: entries.into_iter().map(entry_to_proto).collect(),
            next_page_token: self.tokens.next_page(&scope, next),
        }))
    }
}

#[tonic::async_trait]
impl pb::wallet_admin_service_server::WalletAdminService for Wallet {
    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        credit(self, request.into_inner()).await
    }

    async fn get_account_balance(
        &self,
        request: Request<pb::GetAccountBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let account_id = parse::request(proto::balance_account(request.get_ref()))?;
        let balance = self.balance(&account_id).await?;
        Ok(Response::new(balance_to_proto(balance)))
    }
}

#[tonic::async_trait]
impl pb::wallet_internal_service_server::WalletInternalService for Wallet {
    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> Result<Response<pb::CreditResponse>, Status> {
        credit(self, request.into_inner()).await
    }

    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> Result<Response<pb::DebitResponse>, Status> {
        let command = parse::request(Command::try_from(request.into_inner()))?;
        let transaction = Some(entry_to_proto(self.execute(command).await?));
        Ok(Response::new(pb::DebitResponse { transaction }))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let command = parse::request(Command::try_from(request.into_inner()))?;
        let transaction = Some(entry_to_proto(self.execute(command).await?));
        Ok(Response::new(pb::RefundResponse { transaction }))
    }
}

/// Credit, as both the admin and the internal surface offer it.
async fn credit(
    wallet: &Wallet,
    r: pb::CreditRequest,
) -> Result<Response<pb::CreditResponse>, Status> {
    let command = parse::request(Command::try_from(r))?;
    let transaction = Some(entry_to_proto(wallet.execute(command).await?));
    Ok(Response::new(pb::CreditResponse { transaction }))
}
