#!/usr/bin/env python3
"""End-to-end tests of the numhub wallet, judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check talks to
real `numhub-accounts` and `numhub-wallet` processes over gRPC and HTTP.

The wallet's three surfaces are used as its callers use them:
  * money moves through WalletInternalService (Credit, Debit, Refund) with the
    service credential, as numhub's own services do;
  * each test account is a real account, created by the operator
    (AccountsAdminService, admin key), with a read-only API key of its own;
    balances and ledgers are read through WalletService with that key;
  * WalletAdminService (Credit, GetAccountBalance) with the admin key.

Scenarios:
  * defaults  - `migrate` with NO environment at all, both binaries refusing to
                serve without a service credential, then both serving with
                only NUMHUB_SERVICE_CREDENTIAL set (127.0.0.1:50051/50052,
                9051/9052, ./data, the admin key printed by numhub-accounts).
                Skipped with a notice when those ports are taken.
  * sqlite    - both binaries on free ports, default SQLite stores under
                ./data, debug JSON logs (searched for secrets afterwards).
  * postgres  - fresh databases numhub_e2e_<random>_{accounts,wallet},
                `migrate`, then the same checks. Skipped loudly when
                PostgreSQL is unreachable, unless CI=true, where it is
                mandatory.

Usage: test_wallet.py [--accounts-binary PATH] [--wallet-binary PATH]
                      [--gen target/e2e-gen] [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import uuid

from e2e_common import (  # noqa: E402
    ABORTED, ACCOUNTS_SERVICES, ARGS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, NOT_SERVING,
    READ, RPC_COUNTER, RPC_HISTOGRAM, SHUTDOWN_LIMIT, UNAVAILABLE, WALLET_SERVICES,
    Deployment, Failure, FreshDatabases, Runner, W, check, check_details, check_error, check_eq,
    check_health, check_reflection, check_reflection_grpcurl, check_uuid7, dump_logs, grpc, health_pb2,
    deviation, http_get, is_method, money, note, ok, outcome, parse_metrics, port_is_free, postgres_unreachable, psql,
    rid, run_binary, show, tail,
)

WALLET = "numhub.wallet.v1.WalletService"
WALLET_ADMIN = "numhub.wallet.v1.WalletAdminService"
WALLET_INTERNAL = "numhub.wallet.v1.WalletInternalService"

# Quotas of the test accounts: the ledger checks read a lot.
ROOMY = (100_000, 100_000)


# ---------------------------------------------------------------------------
# the test context: one deployment, its accounts and their keys
# ---------------------------------------------------------------------------


class Ctx:
    def __init__(self, scenario: str, dep: Deployment):
        self.scenario = scenario
        self.dep = dep
        self.accounts: set = set()
        self.keys: dict = {}  # account id -> read-only secret
        self._readers: dict = {}
        self.drain = None

    @property
    def money(self):
        """WalletInternalService with the service credential."""
        return self.dep.internal().wallet_internal

    @property
    def admin(self):
        """WalletAdminService with the operator's admin key."""
        return self.dep.admin().wallet_admin

    def reader(self, account: str):
        """WalletService with the account's own read-only key."""
        r = self._readers.get(account)
        if r is None:
            check(account in self.keys, f"no key for {account}")
            r = self._readers[account] = self.dep.client(self.keys[account]).wallet
        return r

    def account(self, tag: str) -> str:
        """A new customer account with a read-only key of its own."""
        acct = self.dep.create_account(f"e2e {tag}", rate_limits=ROOMY)
        key = self.dep.create_key(acct.id, scopes=(READ,), name=f"{tag} reader")
        self.keys[acct.id] = key.secret
        self.accounts.add(acct.id)
        return acct.id

    # convenience calls that must succeed
    def credit(self, account, units, currency="", request_id=None, reason="top-up"):
        req = W.CreditRequest(account_id=account, amount=money(units, currency),
                              request_id=request_id or rid(), reason=reason)
        return ok(f"Credit({account}, {units})", self.money.Credit, req).transaction

    def debit(self, account, units, currency="", request_id=None, reference="e2e"):
        req = W.DebitRequest(account_id=account, amount=money(units, currency),
                             request_id=request_id or rid(), reference=reference)
        return ok(f"Debit({account}, {units})", self.money.Debit, req).transaction

    def refund(self, debit_id, units=None, request_id=None, reason="e2e refund"):
        req = W.RefundRequest(debit_transaction_id=debit_id, request_id=request_id or rid(), reason=reason)
        if units is not None:
            req.amount.CopyFrom(money(units))
        return ok(f"Refund({debit_id}, {units})", self.money.Refund, req).transaction

    def get_balance(self, account):
        return ok(f"GetBalance with {account}'s key", self.reader(account).GetBalance, W.GetBalanceRequest())

    def balance(self, account) -> int:
        return self.get_balance(account).available.minor_units

    def list_page(self, account, page_size=0, page_token=""):
        return ok(f"ListTransactions with {account}'s key (page_size={page_size})", self.reader(account).ListTransactions,
                  W.ListTransactionsRequest(page_size=page_size, page_token=page_token))

    def ledger(self, account, page_size=100) -> list:
        """Every entry of the account, newest first, following next_page_token."""
        out, token, pages = [], "", 0
        while True:
            pages += 1
            check(pages < 1000, f"ListTransactions({account}) paged more than 1000 times")
            r = self.list_page(account, page_size, token)
            out.extend(r.transactions)
            if not r.next_page_token:
                return out
            token = r.next_page_token


def with_retry(fn, req, attempts=20):
    """Calls fn(req), retrying ABORTED/UNAVAILABLE the way a careful client would."""
    for i in range(attempts):
        kind, res = outcome(fn, req)
        if kind == "ERR" and res.code in (ABORTED, UNAVAILABLE) and i < attempts - 1:
            time.sleep(0.02 * (i + 1))
            continue
        return kind, res


def run_parallel(n: int, fn) -> list:
    """Runs fn(i) in n threads released at the same moment; returns results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def body(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001
            results[i] = ("EXC", e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, tuple) and r and r[0] == "EXC":
            raise r[1]
    return results


# ---------------------------------------------------------------------------
# the checks; each takes a Ctx
# ---------------------------------------------------------------------------


def t_health(ctx: Ctx):
    check_health(ctx.dep.wallet, WALLET_SERVICES)
    check_health(ctx.dep.accounts, ACCOUNTS_SERVICES)


def t_reflection_grpcurl(ctx: Ctx):
    check_reflection_grpcurl(ctx.dep.wallet, WALLET_SERVICES)


def t_reflection(ctx: Ctx):
    check_reflection(ctx.dep.wallet, WALLET_SERVICES)


def t_unknown_account(ctx: Ctx):
    a = ctx.account("nobody")
    b = ctx.get_balance(a)
    check_eq(b.account_id, a, "GetBalance of a never-credited account: account_id")
    check_eq(b.available, money(0, "USD"), "GetBalance of a never-credited account (zero in USD)")
    check(not b.HasField("update_time"), f"GetBalance of a never-credited account has update_time {b.update_time}")
    check_eq(list(ctx.list_page(a).transactions), [], "ListTransactions of a never-credited account")
    check_error("GetAccountBalance (admin) of an account never credited", ctx.admin.GetAccountBalance,
                W.GetAccountBalanceRequest(account_id=a), NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Debit of an account never credited", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=rid()), NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("GetAccountBalance after the failed Debit (it must not create the wallet)",
                ctx.admin.GetAccountBalance, W.GetAccountBalanceRequest(account_id=a), NOT_FOUND,
                "RESOURCE_NOT_FOUND")
    check_eq(ctx.get_balance(a).available, money(0, "USD"), "the customer's balance after the failed Debit")
    ghost = f"e2e-nobody-{uuid.uuid4().hex}"
    check_error("GetAccountBalance of an id no one ever used", ctx.admin.GetAccountBalance,
                W.GetAccountBalanceRequest(account_id=ghost), NOT_FOUND, "RESOURCE_NOT_FOUND")


def t_credit_creates_account(ctx: Ctx):
    a = ctx.account("credit")
    r = rid()
    before = time.time()
    tx = ctx.credit(a, 1250, request_id=r, reason="welcome bonus")
    check_uuid7(tx.id, "Credit transaction.id")
    check_eq(tx.account_id, a, "Credit transaction.account_id")
    check_eq(W.TransactionKind.Name(tx.kind), "TRANSACTION_KIND_CREDIT", "Credit transaction.kind")
    check_eq(tx.amount, money(1250, "USD"), "Credit transaction.amount (default currency USD)")
    check_eq(tx.balance_after, money(1250, "USD"), "Credit transaction.balance_after")
    check_eq(tx.reference, "welcome bonus", "Credit transaction.reference (the request's reason)")
    check_eq(tx.refunded_transaction_id, "", "Credit transaction.refunded_transaction_id")
    check_eq(tx.request_id, r, "Credit transaction.request_id")
    check(tx.HasField("create_time"), "Credit transaction.create_time is unset")
    ct = tx.create_time.seconds + tx.create_time.nanos / 1e9
    check(before - 60 <= ct <= time.time() + 60, f"Credit transaction.create_time {ct} is not about now ({before})")
    b = ctx.get_balance(a)
    check_eq(b.account_id, a, "Balance.account_id")
    check_eq(b.available, money(1250, "USD"), "Balance.available after the first credit")
    check(b.HasField("update_time"), "Balance.update_time is unset")
    admin_view = ok("GetAccountBalance (admin)", ctx.admin.GetAccountBalance, W.GetAccountBalanceRequest(account_id=a))
    check_eq(admin_view, b, "the operator's GetAccountBalance vs the customer's GetBalance")
    tx2 = ctx.credit(a, 50, currency="USD")
    check_eq(tx2.balance_after, money(1300, "USD"), "balance_after of a second credit with explicit USD")
    check_eq(ctx.balance(a), 1300, "balance after two credits")


def t_admin_credit(ctx: Ctx):
    """WalletAdminService.Credit tops up exactly as WalletInternalService.Credit does."""
    a = ctx.account("admin-credit")
    r = rid()
    req = W.CreditRequest(account_id=a, amount=money(900), request_id=r, reason="operator top-up")
    first = ok("WalletAdminService/Credit with the admin key", ctx.admin.Credit, req).transaction
    check_eq((W.TransactionKind.Name(first.kind), first.amount, first.balance_after, first.reference,
              first.request_id),
             ("TRANSACTION_KIND_CREDIT", money(900, "USD"), money(900, "USD"), "operator top-up", r),
             "the admin Credit's entry")
    again = ok("the admin Credit retried", ctx.admin.Credit, req).transaction
    check_eq(again, first, "response to the retried admin Credit")
    via_internal = ok("the same Credit sent to WalletInternalService", ctx.money.Credit, req).transaction
    check_eq(via_internal, first, "the same request_id and fields through the internal surface (one request)")
    check_error("admin Credit reusing the request_id with another amount", ctx.admin.Credit,
                W.CreditRequest(account_id=a, amount=money(901), request_id=r, reason="operator top-up"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_eq(ctx.balance(a), 900, "balance after one admin Credit and its retries")
    check_eq([t.id for t in ctx.ledger(a)], [first.id], "the customer's ledger after the admin Credit")
    b = ok("GetAccountBalance", ctx.admin.GetAccountBalance, W.GetAccountBalanceRequest(account_id=a))
    check_eq(b.available, money(900, "USD"), "GetAccountBalance after the admin Credit")


def t_credit_currency(ctx: Ctx):
    a = ctx.account("eur")
    tx = ctx.credit(a, 500, currency="EUR")
    check_eq(tx.balance_after, money(500, "EUR"), "first credit in EUR creates an EUR account")
    tx = ctx.credit(a, 5)
    check_eq(tx.amount, money(5, "EUR"), "credit with empty currency uses the account's currency")
    check_error("Credit in USD to an EUR account", ctx.money.Credit,
                W.CreditRequest(account_id=a, amount=money(5, "USD"), request_id=rid()),
                FAILED_PRECONDITION, "CURRENCY_MISMATCH")
    kind, res = outcome(ctx.money.Debit, W.DebitRequest(account_id=a, amount=money(5, "USD"), request_id=rid()))
    check(kind == "ERR" and res.code in (FAILED_PRECONDITION, INVALID_ARGUMENT),
          f"Debit in USD from an EUR account: expected an error, got {show(res) if kind == 'OK' else res}")
    check_eq(ctx.get_balance(a).available, money(505, "EUR"), "balance after the rejected USD credit and debit")


def t_credit_idempotency(ctx: Ctx):
    a = ctx.account("idem-credit")
    r = rid()
    req = W.CreditRequest(account_id=a, amount=money(700), request_id=r, reason="top-up")
    first = ok("first Credit", ctx.money.Credit, req)
    again = ok("Credit retried with the same request_id and fields", ctx.money.Credit, req)
    check_eq(again, first, "response to the retried Credit (must be the first result)")
    check_eq(ctx.balance(a), 700, "balance after a Credit and its retry")
    check_eq(len(ctx.ledger(a)), 1, "ledger entries after a Credit and its retry")
    for what, changed in [
        ("different amount", W.CreditRequest(account_id=a, amount=money(701), request_id=r, reason="top-up")),
        ("different reason", W.CreditRequest(account_id=a, amount=money(700), request_id=r, reason="goodwill")),
        ("explicit different currency",
         W.CreditRequest(account_id=a, amount=money(700, "EUR"), request_id=r, reason="top-up")),
    ]:
        check_error(f"Credit reusing request_id with {what}", ctx.money.Credit, changed,
                    FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_eq(ctx.balance(a), 700, "balance after the rejected reuses of the request_id")
    # request ids are unique per account: the same id on another account is another request
    b = ctx.account("idem-credit-other")
    tx = ctx.credit(b, 700, request_id=r, reason="top-up")
    check_eq(tx.account_id, b, "Credit with a request_id already used on another account")
    check_eq(ctx.balance(a), 700, "first account's balance after the other account reused its request_id")
    check_eq(ctx.balance(b), 700, "second account's balance")


def t_debit(ctx: Ctx):
    a = ctx.account("debit")
    ctx.credit(a, 1000)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(300), request_id=r, reference="activation:42")
    first = ok("Debit", ctx.money.Debit, req).transaction
    check_uuid7(first.id, "Debit transaction.id")
    check_eq(W.TransactionKind.Name(first.kind), "TRANSACTION_KIND_DEBIT", "Debit transaction.kind")
    check_eq(first.amount, money(-300, "USD"), "Debit transaction.amount (negative)")
    check_eq(first.balance_after, money(700, "USD"), "Debit transaction.balance_after")
    check_eq(first.reference, "activation:42", "Debit transaction.reference")
    check_eq(first.request_id, r, "Debit transaction.request_id")
    check_eq(first.account_id, a, "Debit transaction.account_id")
    check_eq(ctx.balance(a), 700, "balance after debit")
    again = ok("Debit retried", ctx.money.Debit, req).transaction
    check_eq(again, first, "response to the retried Debit")
    check_eq(ctx.balance(a), 700, "balance after the retried Debit (no money moved)")
    check_error("Debit reusing request_id with a different amount", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(301), request_id=r, reference="activation:42"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Debit reusing request_id with a different reference", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(300), request_id=r, reference="activation:43"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Debit reusing a Credit's request_id", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=ctx.ledger(a)[-1].request_id),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    tx = ctx.debit(a, 200, currency="USD")
    check_eq(tx.balance_after, money(500, "USD"), "balance_after of a debit with explicit USD")
    check_eq(ctx.balance(a), 500, "balance")
    check_eq(len(ctx.ledger(a)), 3, "ledger entries (credit, debit, debit)")


def t_debit_insufficient(ctx: Ctx):
    a = ctx.account("short")
    ctx.credit(a, 700)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(701), request_id=r, reference="too much")
    first = check_error("Debit of more than the balance", ctx.money.Debit, req,
                        FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 700, "balance after the refused debit")
    check_eq(len(ctx.ledger(a)), 1, "ledger entries after the refused debit")
    second = check_error("the refused Debit retried with the same request_id", ctx.money.Debit, req,
                         FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(second.key(), first.key(), "error of the retried refused Debit")
    ctx.credit(a, 1000)
    check_error("the refused Debit retried after a top-up (the first result stands)", ctx.money.Debit, req,
                FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 1700, "balance after the top-up and the retried refused Debit")
    check_error("the refused Debit's request_id with different fields", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(100), request_id=r, reference="too much"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check(all(t.request_id != r for t in ctx.ledger(a)), "the refused Debit left an entry in the ledger")
    tx = ctx.debit(a, 1700)
    check_eq(tx.balance_after, money(0, "USD"), "balance_after of a debit of the whole balance")
    check_error("Debit of 1 from an empty account", ctx.money.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=rid()),
                FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 0, "balance")


def t_refund(ctx: Ctx):
    a = ctx.account("refund")
    credit_tx = ctx.credit(a, 1000)
    d = ctx.debit(a, 300, reference="activation:7")
    r1 = rid()
    req1 = W.RefundRequest(debit_transaction_id=d.id, amount=money(100), request_id=r1, reason="partial")
    t1 = ok("Refund of 100 of a 300 debit", ctx.money.Refund, req1).transaction
    check_uuid7(t1.id, "Refund transaction.id")
    check_eq(W.TransactionKind.Name(t1.kind), "TRANSACTION_KIND_REFUND", "Refund transaction.kind")
    check_eq(t1.amount, money(100, "USD"), "Refund transaction.amount")
    check_eq(t1.balance_after, money(800, "USD"), "Refund transaction.balance_after")
    check_eq(t1.refunded_transaction_id, d.id, "Refund transaction.refunded_transaction_id")
    check_eq(t1.account_id, a, "Refund transaction.account_id")
    check_eq(t1.reference, "partial", "Refund transaction.reference (the request's reason)")
    check_eq(t1.request_id, r1, "Refund transaction.request_id")
    check_eq(ok("Refund retried", ctx.money.Refund, req1).transaction, t1, "response to the retried Refund")
    check_eq(ctx.balance(a), 800, "balance after a refund and its retry")
    check_error("Refund reusing request_id with a different amount", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(99), request_id=r1, reason="partial"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Refund of 201 when 200 is left", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(201), request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    check_eq(ctx.balance(a), 800, "balance after the refused refund")
    rest = ok("Refund with amount unset (the rest)", ctx.money.Refund,
              W.RefundRequest(debit_transaction_id=d.id, request_id=rid(), reason="rest")).transaction
    check_eq(rest.amount, money(200, "USD"), "amount of a refund of the rest")
    check_eq(rest.balance_after, money(1000, "USD"), "balance_after of the refund of the rest")
    check_error("Refund of 1 of a fully refunded debit", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(1), request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    check_error("Refund of the rest (amount unset) of a fully refunded debit", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=d.id, request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    # zero minor units with a currency also means "the rest"
    d2 = ctx.debit(a, 50)
    z = ok("Refund with amount {USD, 0} (the rest)", ctx.money.Refund,
           W.RefundRequest(debit_transaction_id=d2.id, amount=money(0, "USD"), request_id=rid())).transaction
    check_eq(z.amount, money(50, "USD"), "amount of a refund with zero minor units")
    check_eq(ctx.balance(a), 1000, "balance after all refunds")
    check_error("Refund of an unknown debit", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=str(uuid.uuid4()), request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Refund naming a credit", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=credit_tx.id, request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Refund naming a refund", ctx.money.Refund,
                W.RefundRequest(debit_transaction_id=t1.id, request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_eq(ctx.balance(a), 1000, "balance after the refused refunds")


def t_invalid_arguments(ctx: Ctx):
    a = ctx.account("invalid")
    ctx.credit(a, 1000)
    d = ctx.debit(a, 100)
    before_balance, before_len = ctx.balance(a), len(ctx.ledger(a))
    s, adm, pub = ctx.money, ctx.admin, ctx.reader(a)

    def cr(**kw):
        base = dict(account_id=a, amount=money(10), request_id=rid(), reason="x")
        base.update(kw)
        return W.CreditRequest(**{k: v for k, v in base.items() if v is not None})

    def de(**kw):
        base = dict(account_id=a, amount=money(10), request_id=rid(), reference="x")
        base.update(kw)
        return W.DebitRequest(**{k: v for k, v in base.items() if v is not None})

    def rf(**kw):
        base = dict(debit_transaction_id=d.id, amount=money(10), request_id=rid(), reason="x")
        base.update(kw)
        return W.RefundRequest(**{k: v for k, v in base.items() if v is not None})

    def ls(**kw):
        return W.ListTransactionsRequest(**kw)

    cases = [
        ("Credit amount 0", s.Credit, cr(amount=money(0)), "amount.minor_units"),
        ("Credit amount -5", s.Credit, cr(amount=money(-5)), "amount.minor_units"),
        ("Credit amount unset", s.Credit, cr(amount=None), "amount"),
        ("Credit empty request_id", s.Credit, cr(request_id=""), "request_id"),
        ("Credit request_id of 256 chars", s.Credit, cr(request_id="r" * 256), "request_id"),
        ("Credit request_id with a control character", s.Credit, cr(request_id="bad\x07id"), "request_id"),
        ("Credit request_id with non-ASCII", s.Credit, cr(request_id="na\u00efve-" + uuid.uuid4().hex),
         "request_id"),
        ("Credit currency 'usd'", s.Credit, cr(amount=money(10, "usd")), "amount.currency_code"),
        ("Credit currency 'US'", s.Credit, cr(amount=money(10, "US")), "amount.currency_code"),
        ("Credit currency 'USDX'", s.Credit, cr(amount=money(10, "USDX")), "amount.currency_code"),
        ("Credit currency 'U$D'", s.Credit, cr(amount=money(10, "U$D")), "amount.currency_code"),
        ("Credit empty account_id", s.Credit, cr(account_id=""), "account_id"),
        ("Credit account_id of 256 chars", s.Credit, cr(account_id="a" * 256), "account_id"),
        ("Credit reason of 1025 chars", s.Credit, cr(reason="r" * 1025), "reason"),
        ("admin Credit amount 0", adm.Credit, cr(amount=money(0)), "amount.minor_units"),
        ("admin Credit empty account_id", adm.Credit, cr(account_id=""), "account_id"),
        ("admin Credit empty request_id", adm.Credit, cr(request_id=""), "request_id"),
        ("Debit amount 0", s.Debit, de(amount=money(0)), "amount.minor_units"),
        ("Debit amount -1", s.Debit, de(amount=money(-1)), "amount.minor_units"),
        ("Debit amount unset", s.Debit, de(amount=None), "amount"),
        ("Debit empty request_id", s.Debit, de(request_id=""), "request_id"),
        ("Debit request_id of 256 chars", s.Debit, de(request_id="r" * 256), "request_id"),
        ("Debit currency 'usd'", s.Debit, de(amount=money(10, "usd")), "amount.currency_code"),
        ("Debit empty account_id", s.Debit, de(account_id=""), "account_id"),
        ("Debit reference of 1025 chars", s.Debit, de(reference="r" * 1025), "reference"),
        ("Refund amount -1", s.Refund, rf(amount=money(-1)), "amount.minor_units"),
        ("Refund empty debit_transaction_id", s.Refund, rf(debit_transaction_id=""), "debit_transaction_id"),
        ("Refund empty request_id", s.Refund, rf(request_id=""), "request_id"),
        ("Refund request_id of 256 chars", s.Refund, rf(request_id="r" * 256), "request_id"),
        ("Refund currency 'eu'", s.Refund, rf(amount=money(10, "eu")), "amount.currency_code"),
        ("Refund reason of 1025 chars", s.Refund, rf(reason="r" * 1025), "reason"),
        ("GetAccountBalance empty account_id", adm.GetAccountBalance, W.GetAccountBalanceRequest(account_id=""),
         "account_id"),
        ("GetAccountBalance account_id of 256 chars", adm.GetAccountBalance,
         W.GetAccountBalanceRequest(account_id="a" * 256), "account_id"),
        ("ListTransactions page_size 101", pub.ListTransactions, ls(page_size=101), "page_size"),
        ("ListTransactions page_size -1", pub.ListTransactions, ls(page_size=-1), "page_size"),
        ("ListTransactions garbage page_token", pub.ListTransactions, ls(page_token="garbage"), "page_token"),
        ("ListTransactions page_token '!!!'", pub.ListTransactions, ls(page_token="!!!not-a-token!!!"),
         "page_token"),
    ]
    problems = []
    for what, fn, req, field in cases:
        try:
            check_error(what, fn, req, INVALID_ARGUMENT, "INVALID_FIELD", field)
        except Failure as e:
            problems.append(str(e))
    check_eq(ctx.balance(a), before_balance, "balance after the invalid requests")
    check_eq(len(ctx.ledger(a)), before_len, "ledger entries after the invalid requests")
    # the limits themselves are valid
    for what, fn, req in [
        ("Credit request_id of 255 printable chars", s.Credit, cr(request_id=(rid() + "~!" * 150)[:255])),
        ("Credit reason of 1024 chars", s.Credit, cr(reason="r" * 1024)),
        ("Debit reference of 1024 chars", s.Debit, de(reference="r" * 1024)),
        ("ListTransactions page_size 100", pub.ListTransactions, ls(page_size=100)),
    ]:
        kind, res = outcome(fn, req)
        if kind != "OK":
            problems.append(f"{what}: expected OK, got {res}")
    # Internal callers may credit any id up to 255 characters; the operator reads it back.
    long_account = ("e2e-long-" + uuid.uuid4().hex + "x" * 255)[:255]
    kind, res = outcome(s.Credit, cr(account_id=long_account))
    if kind != "OK":
        problems.append(f"Credit to an account_id of 255 chars: expected OK, got {res}")
    else:
        kind, res = outcome(adm.GetAccountBalance, W.GetAccountBalanceRequest(account_id=long_account))
        if kind != "OK" or res.available.minor_units != 10:
            problems.append(f"GetAccountBalance of the 255-char account: expected 10, got {show(res)}")
    if problems:
        raise Failure(f"{len(problems)} of the invalid-argument checks failed:\n    - " + "\n    - ".join(problems))


def t_list_transactions(ctx: Ctx):
    a = ctx.account("list")
    made = [ctx.credit(a, 1000)]
    made.append(ctx.debit(a, 100))
    made.append(ctx.credit(a, 50))
    made.append(ctx.debit(a, 200))
    made.append(ctx.refund(made[1].id, 40))
    made.append(ctx.credit(a, 5))
    made.append(ctx.debit(a, 1))
    want = [t.id for t in reversed(made)]
    r = ctx.list_page(a)
    check_eq([t.id for t in r.transactions], want, "ids listed with page_size 0 (newest first)")
    check_eq(r.next_page_token, "", "next_page_token of a complete list")
    check_eq(list(r.transactions), list(reversed(made)), "listed entries vs the entries the calls returned")
    times = [(t.create_time.seconds, t.create_time.nanos) for t in r.transactions]
    check(times == sorted(times, reverse=True), f"create_time should not increase down the list: {times}")
    for size in (1, 2, 3, 6, 7, 8, 100):
        got, token, pages = [], "", 0
        while True:
            pages += 1
            check(pages <= 20, f"page_size {size}: more than 20 pages for 7 entries")
            p = ctx.list_page(a, size, token)
            check(len(p.transactions) <= size, f"page_size {size}: a page held {len(p.transactions)} entries")
            got.extend(t.id for t in p.transactions)
            if not p.next_page_token:
                break
            token = p.next_page_token
        check_eq(got, want, f"ids over all pages of size {size}")
    # a page boundary never repeats or skips, even while entries are added
    p1 = ctx.list_page(a, 3)
    check_eq([t.id for t in p1.transactions], want[:3], "first page of 3")
    check(p1.next_page_token, "first page of 3 of 7 entries has no next_page_token")
    new = [ctx.credit(a, 7), ctx.debit(a, 3)]
    got, token = [], p1.next_page_token
    while token:
        p = ctx.list_page(a, 3, token)
        got.extend(t.id for t in p.transactions)
        token = p.next_page_token
    check_eq(got, want[3:], "remaining pages after 2 entries were added mid-listing")
    all_ids = [t.id for t in ctx.ledger(a, page_size=4)]
    check_eq(all_ids, [t.id for t in reversed(new)] + want, "the full list after the additions")


def t_concurrent_same_request_id(ctx: Ctx):
    a = ctx.account("race-same")
    ctx.credit(a, 1000)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(100), request_id=r, reference="race")
    results = run_parallel(20, lambda i: outcome(ctx.money.Debit, req))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == ABORTED and e.reason == "REQUEST_IN_PROGRESS")]
    check(not bad, f"20 concurrent Debits with one request_id: errors other than ABORTED/REQUEST_IN_PROGRESS: {bad}")
    for e in errs:
        check_details("concurrent duplicate Debit", e, ABORTED, "REQUEST_IN_PROGRESS")
    check(oks, f"20 concurrent Debits with one request_id: none succeeded ({len(errs)} ABORTED)")
    distinct = {o.SerializeToString(deterministic=True) for o in oks}
    check_eq(len(distinct), 1, f"number of distinct responses among {len(oks)} successful duplicate Debits")
    entries = [t for t in ctx.ledger(a) if t.request_id == r]
    check_eq(len(entries), 1, "ledger entries with the raced request_id")
    check_eq(ctx.balance(a), 900, "balance after 20 concurrent copies of one Debit of 100")
    note(f"{len(oks)} identical OK, {len(errs)} ABORTED/REQUEST_IN_PROGRESS")
    again = ok("the raced Debit retried", ctx.money.Debit, req)
    check_eq(again, oks[0], "response to the retried raced Debit")


def t_concurrent_overdraw(ctx: Ctx):
    a = ctx.account("race-overdraw")
    ctx.credit(a, 1000)
    reqs = [W.DebitRequest(account_id=a, amount=money(100), request_id=rid(), reference=f"race-{i}")
            for i in range(20)]
    results = run_parallel(20, lambda i: with_retry(ctx.money.Debit, reqs[i]))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == FAILED_PRECONDITION and e.reason == "INSUFFICIENT_BALANCE")]
    check(not bad, f"20 concurrent Debits of 100 from 1000: unexpected errors {bad}")
    check_eq((len(oks), len(errs)), (10, 10), "(succeeded, INSUFFICIENT_BALANCE) of 20 concurrent Debits of 100 "
                                              "from a balance of 1000")
    afters = sorted(o.transaction.balance_after.minor_units for o in oks)
    check_eq(afters, list(range(0, 1000, 100)), "balance_after values of the successful concurrent Debits")
    check_eq(ctx.balance(a), 0, "balance after the concurrent Debits")


def t_concurrent_first_credit(ctx: Ctx):
    a = ctx.account("race-create")
    reqs = [W.CreditRequest(account_id=a, amount=money(10 + i), request_id=rid()) for i in range(12)]
    results = run_parallel(12, lambda i: with_retry(ctx.money.Credit, reqs[i]))
    bad = [str(res) for kind, res in results if kind != "OK"]
    check(not bad, f"12 concurrent first Credits of one new account: failures {bad}")
    check_eq(ctx.balance(a), sum(10 + i for i in range(12)), "balance after 12 concurrent first Credits")
    check_eq(len(ctx.ledger(a)), 12, "ledger entries after 12 concurrent first Credits")


def t_concurrent_refunds(ctx: Ctx):
    a = ctx.account("race-refund")
    ctx.credit(a, 1000)
    d = ctx.debit(a, 300)
    reqs = [W.RefundRequest(debit_transaction_id=d.id, amount=money(100), request_id=rid()) for _ in range(10)]
    results = run_parallel(10, lambda i: with_retry(ctx.money.Refund, reqs[i]))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == FAILED_PRECONDITION and e.reason == "REFUND_EXCEEDS_DEBIT")]
    check(not bad, f"10 concurrent Refunds of 100 of a 300 debit: unexpected errors {bad}")
    check_eq((len(oks), len(errs)), (3, 7), "(succeeded, REFUND_EXCEEDS_DEBIT) of 10 concurrent Refunds of 100 "
                                            "of a debit of 300")
    check_eq(ctx.balance(a), 1000, "balance after the concurrent refunds")


def check_ledger(ctx: Ctx, account: str, strict_order: bool) -> None:
    b = ctx.get_balance(account)
    entries = ctx.ledger(account)
    if not b.HasField("update_time"):
        # never credited (e.g. every credit was refused): zero and nothing listed
        check_eq((b.available.minor_units, len(entries)), (0, 0),
                 f"{account}: (balance, entries) of an account whose balance never changed")
        return
    check(entries, f"{account}: has a balance but an empty ledger")
    cur = b.available.currency_code
    total = sum(t.amount.minor_units for t in entries)
    check_eq(b.available.minor_units, total, f"{account}: balance vs the sum of its {len(entries)} ledger amounts")
    check(b.available.minor_units >= 0, f"{account}: negative balance {b.available.minor_units}")
    refunded = collections.Counter()
    debits = {}
    for t in entries:
        k = W.TransactionKind.Name(t.kind)
        check_eq(t.account_id, account, f"{account}: account_id of entry {t.id}")
        check_eq(t.amount.currency_code, cur, f"{account}: currency of entry {t.id}")
        check_eq(t.balance_after.currency_code, cur, f"{account}: currency of balance_after of entry {t.id}")
        check(t.balance_after.minor_units >= 0, f"{account}: entry {t.id} has a negative balance_after")
        if k == "TRANSACTION_KIND_DEBIT":
            check(t.amount.minor_units < 0, f"{account}: debit {t.id} has a non-negative amount {t.amount}")
            debits[t.id] = -t.amount.minor_units
        elif k in ("TRANSACTION_KIND_CREDIT", "TRANSACTION_KIND_REFUND"):
            check(t.amount.minor_units > 0, f"{account}: {k} {t.id} has a non-positive amount {t.amount}")
            if k == "TRANSACTION_KIND_REFUND":
                refunded[t.refunded_transaction_id] += t.amount.minor_units
        else:
            raise Failure(f"{account}: entry {t.id} has kind {k}")
    for debit_id, amount in refunded.items():
        check(debit_id in debits, f"{account}: refund of {debit_id}, which is not a debit of this account")
        check(amount <= debits[debit_id], f"{account}: debit {debit_id} of {debits[debit_id]} refunded {amount}")
    check_eq(len({t.request_id for t in entries}), len(entries), f"{account}: entries sharing a request_id")
    if strict_order:
        running = 0
        for t in reversed(entries):
            running += t.amount.minor_units
            check_eq(t.balance_after.minor_units, running,
                     f"{account}: balance_after of entry {t.id} vs the running sum of the amounts listed before it")


def t_ledger_invariant(ctx: Ctx):
    problems = []
    for a in sorted(ctx.accounts):
        try:
            check_ledger(ctx, a, strict_order=False)
        except Failure as e:
            problems.append(str(e))
    check(not problems, "ledger invariant broken:\n    - " + "\n    - ".join(problems))


def t_balance_after_chain(ctx: Ctx):
    """Down the list, each balance_after is the previous one plus the amount."""
    problems = []
    for a in sorted(ctx.accounts):
        try:
            check_ledger(ctx, a, strict_order=True)
        except Failure as e:
            problems.append(str(e))
    check(not problems, "balance_after chain broken:\n    - " + "\n    - ".join(problems))


# --- metrics ---------------------------------------------------------------


def t_metrics(ctx: Ctx):
    proc = ctx.dep.wallet
    url = proc.metrics_url()

    def made(service, method):
        return ctx.dep.calls[(proc.name, f"/{service}/{method}")]

    want = {svc: made(svc, "Credit") for svc in (WALLET_ADMIN, WALLET_INTERNAL)}
    deadline = time.monotonic() + 5
    while True:
        try:
            status, ctype, body = http_get(url)
        except (urllib.error.URLError, OSError) as e:
            raise Failure(f"GET {url}: {e}")
        check_eq(status, 200, f"HTTP status of GET {url}")
        samples = parse_metrics(body)
        counter = [(n, lb, v) for n, lb, v in samples if n == RPC_COUNTER]
        got = {svc: sum(v for _, lb, v in counter if is_method(lb, svc, "Credit")) for svc in want}
        if all(got[s] == want[s] for s in want) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    names = sorted({n for n, _, _ in samples if "rpc" in n or "grpc" in n})
    check(counter, f"{url} has no {RPC_COUNTER}; rpc-ish metrics present: {names}")
    for service, methods in WALLET_SERVICES.items():
        for m in methods:
            check(any(is_method(lb, service, m) for _, lb, _ in counter),
                  f"{RPC_COUNTER} has no sample for {service}/{m}; samples: {counter[:10]}")
    for svc in want:
        check_eq(got[svc], float(want[svc]), f"{RPC_COUNTER} summed over {svc}/Credit samples (this client made "
                                             f"{want[svc]} such calls)")
    buckets = [(lb, v) for n, lb, v in samples
               if n == RPC_HISTOGRAM + "_bucket" and is_method(lb, WALLET_INTERNAL, "Debit")]
    counts = [v for n, lb, v in samples if n == RPC_HISTOGRAM + "_count" and is_method(lb, WALLET_INTERNAL, "Debit")]
    check(buckets, f"{url} has no {RPC_HISTOGRAM}_bucket samples for {WALLET_INTERNAL}/Debit; rpc-ish metrics: "
                   f"{names}")
    check(any(lb.get("le") == "+Inf" for lb, _ in buckets), f"{RPC_HISTOGRAM} for Debit has no le=\"+Inf\" bucket")
    debits = made(WALLET_INTERNAL, "Debit")
    check(counts and sum(counts) > 0, f"{RPC_HISTOGRAM}_count for Debit: {counts}")
    check(sum(counts) <= debits, f"{RPC_HISTOGRAM}_count for Debit is {sum(counts)}, more than the {debits} "
                                 f"Debits made")
    # The accounts binary exports the same metrics for its own RPCs.
    status, _, body = http_get(ctx.dep.accounts.metrics_url())
    acc = [(lb, v) for n, lb, v in parse_metrics(body) if n == RPC_COUNTER]
    for service, method in [("numhub.accounts.v1.AccountsAdminService", "CreateAccount"),
                            ("numhub.accounts.v1.AccountsInternalService", "Authenticate")]:
        check(any(is_method(lb, service, method) and v > 0 for lb, v in acc),
              f"accounts {RPC_COUNTER} has no sample for {service}/{method}")


def t_sqlite_files(ctx: Ctx):
    data = os.path.join(ctx.dep.workdir, "data")
    check(os.path.isdir(data), f"no ./data directory in the servers' working directory {ctx.dep.workdir}")
    files = os.listdir(data)
    for db in ("accounts.db", "wallet.db"):
        check(db in files, f"./data should hold {db}; holds {files}")


def t_logs_clean(ctx: Ctx):
    note(ctx.dep.check_logs_clean())


# --- shutdown and restart -----------------------------------------------------


def t_sigterm_drains(ctx: Ctx):
    srv = ctx.dep.wallet
    a = ctx.account("drain")
    ctx.credit(a, 1)
    statuses, watch_end = [], []
    saw_not_serving = threading.Event()
    watch = srv.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=SHUTDOWN_LIMIT + 10)

    def watcher():
        try:
            for msg in watch:
                statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(msg.status))
                if msg.status == NOT_SERVING:
                    saw_not_serving.set()
                    break
        except grpc.RpcError as e:
            watch_end.append(f"{e.code().name} {e.details()!r}")
        finally:
            watch.cancel()

    wt = threading.Thread(target=watcher)
    wt.start()
    t_first = time.monotonic() + 5
    while not statuses and time.monotonic() < t_first:
        time.sleep(0.02)
    check_eq(statuses[:1], ["SERVING"], "first health Watch status before SIGTERM")

    stop = threading.Event()
    results = []  # (request_id, units, code name, error text)
    lock = threading.Lock()
    credit = ctx.money.Credit

    def worker(i):
        n = 0
        while not stop.is_set():
            n += 1
            r, units = f"drain-{i}-{n}", random.randint(1, 9)
            kind, res = outcome(credit,
                                W.CreditRequest(account_id=a, amount=money(units), request_id=r, reason="drain"),
                                timeout=SHUTDOWN_LIMIT + 5)
            with lock:
                results.append((r, units, "OK" if kind == "OK" else res.code.name,
                                "" if kind == "OK" else str(res)))
            if kind == "ERR":
                return

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    t_burst = time.monotonic() + 5
    while len(results) < 30 and time.monotonic() < t_burst:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.proc.send_signal(15)
    saw_not_serving.wait(SHUTDOWN_LIMIT)
    try:
        rc = srv.proc.wait(timeout=max(0.0, SHUTDOWN_LIMIT - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        rc = None
    elapsed = time.monotonic() - t0
    stop.set()
    for w in workers:
        w.join(30)
    wt.join(30)
    if rc is None:
        srv.kill()
    srv.close_channel()
    ctx.drain = (a, results)
    problems = []
    if rc is None:
        problems.append(f"still running {SHUTDOWN_LIMIT:.0f}s after SIGTERM (killed it)")
    elif rc != 0:
        problems.append(f"exit code after SIGTERM: expected 0, got {rc} after {elapsed:.2f}s")
    if not saw_not_serving.is_set():
        problems.append(f"health Watch never reported NOT_SERVING after SIGTERM (statuses {statuses}, "
                        f"stream end: {watch_end or 'none'})")
    bad = [f"{r}: {err}" for r, _, code, err in results if code not in ("OK", "UNAVAILABLE")]
    if bad:
        problems.append(f"requests in flight at SIGTERM failed with something other than UNAVAILABLE: {bad[:5]}")
    if not any(code == "OK" for _, _, code, _ in results):
        problems.append("no Credit succeeded during the burst before SIGTERM")
    codes = collections.Counter(code for _, _, code, _ in results)
    note(f"{len(results)} Credits in the burst: {dict(codes)}; health {statuses}; "
         f"exit code {rc} {elapsed:.2f}s after SIGTERM")
    if problems:
        raise Failure("; ".join(problems) + f"\n      log:\n{tail(srv.log_path, 25)}")


def t_restart_keeps_data(ctx: Ctx):
    check(ctx.drain is not None, "no shutdown data (the SIGTERM check did not run)")
    ctx.dep.wallet.start()
    # The restarted wallet knows no key yet: reading resolves the customer's key through accounts again.
    a, results = ctx.drain
    entries = ctx.ledger(a)
    by_rid = {t.request_id: t for t in entries}
    lost = [r for r, _, code, _ in results if code == "OK" and r not in by_rid]
    check(not lost, f"{len(lost)} Credits answered OK before the shutdown are missing after restart: {lost[:5]}")
    # A request answered UNAVAILABLE must not have been executed: had it been in
    # flight, the drain would have answered it.
    cut = [r for r, _, code, _ in results if code != "OK" and r in by_rid]
    check(not cut, f"{len(cut)} Credits were executed but answered UNAVAILABLE at shutdown (in-flight requests "
                   f"not drained): {cut[:5]}")
    for r, units, code, _ in results:
        req = W.CreditRequest(account_id=a, amount=money(units), request_id=r, reason="drain")
        got = ok(f"Credit {r} retried after restart (first outcome {code})", ctx.money.Credit, req).transaction
        if r in by_rid:
            check_eq(got, by_rid[r], f"replay after restart of Credit {r}")
    want = 1 + sum(units for _, units, _, _ in results)
    check_eq(ctx.balance(a), want, "balance after restart and retrying every Credit of the burst once more")
    t_ledger_invariant(ctx)  # every account of the scenario, as read back after the restart


def t_sigterm_idle(ctx: Ctx):
    for srv in (ctx.dep.wallet, ctx.dep.accounts):
        check(srv.running(), f"{srv.name} is not running")
        srv.close_channel()
        rc, elapsed = srv.terminate()
        if rc is None:
            srv.kill()
            raise Failure(f"{srv.name} still running {SHUTDOWN_LIMIT:.0f}s after SIGTERM (killed it); log:\n"
                          f"{tail(srv.log_path)}")
        check_eq(rc, 0, f"{srv.name}: exit code after SIGTERM ({elapsed:.2f}s)")


RPC_SUITE = [
    ("health", t_health),
    ("reflection_grpcurl", t_reflection_grpcurl),
    ("reflection_v1_v1alpha", t_reflection),
    ("unknown_account", t_unknown_account),
    ("credit_creates_account", t_credit_creates_account),
    ("admin_credit", t_admin_credit),
    ("credit_currency", t_credit_currency),
    ("credit_idempotency", t_credit_idempotency),
    ("debit", t_debit),
    ("debit_insufficient_balance", t_debit_insufficient),
    ("refund", t_refund),
    ("invalid_arguments", t_invalid_arguments),
    ("list_transactions_paging", t_list_transactions),
    ("concurrent_same_request_id", t_concurrent_same_request_id),
    ("concurrent_overdraw", t_concurrent_overdraw),
    ("concurrent_first_credit", t_concurrent_first_credit),
    ("concurrent_refunds", t_concurrent_refunds),
    ("ledger_invariant", t_ledger_invariant),
    ("balance_after_chain", t_balance_after_chain),
    ("metrics", t_metrics),
]

SHUTDOWN_SUITE = [
    ("sigterm_drains_and_exits_0", t_sigterm_drains),
    ("restart_keeps_data", t_restart_keeps_data),
    ("sigterm_idle_exits_0", t_sigterm_idle),
    ("no_secrets_in_logs", t_logs_clean),
]


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------


def suite_names(scenario: str, suite) -> list:
    return [f"{scenario}/{n}" for n, _ in suite]


def run_server_scenario(runner: Runner, scenario: str, dep: Deployment):
    """Starts both binaries, runs the RPC suite, then the shutdown checks."""
    ctx = Ctx(scenario, dep)
    all_names = [f"{scenario}/start"] + suite_names(scenario, RPC_SUITE) + suite_names(scenario, SHUTDOWN_SUITE)
    if not any(runner.wanted(n) for n in all_names):
        return ctx
    before = len(runner.failed)
    try:
        if not runner.run(f"{scenario}/start", dep.start, force=True):
            runner.not_run(all_names[1:], "the servers did not start")
            return ctx
        for i, (name, fn) in enumerate(RPC_SUITE):
            runner.run(f"{scenario}/{name}", fn, ctx)
            if not dep.running():
                dead = [f"{p.name} (exit code {p.proc.returncode})" for p in dep.processes() if not p.running()]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(dead)} died during {name}")
                runner.not_run(suite_names(scenario, RPC_SUITE[i + 1:] + SHUTDOWN_SUITE), "a server died")
                return ctx
        for name, fn in SHUTDOWN_SUITE:
            runner.run(f"{scenario}/{name}", fn, ctx)
    finally:
        dep.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {dep.workdir}", flush=True)
            dump_logs(dep)
    return ctx


def scenario_defaults(runner: Runner):
    """No configuration at all (migrate), then only the service credential."""
    names = ["defaults/migrate", "defaults/refuses_without_credential", "defaults/serve"]
    if not any(runner.wanted(n) for n in names):
        return
    busy = [p for p in (50051, 9051, 50052, 9052) if not port_is_free(p)]
    if busy:
        for n in names:
            runner.skipped.append((n, f"default port(s) {busy} in use on this machine"))
            print(f"SKIP {n}: default port(s) {busy} in use on this machine", flush=True)
        return

    def migrate():
        wd = runner.workdir("defaults-migrate")
        for binary in (ARGS.accounts_binary, ARGS.wallet_binary):
            name = os.path.basename(binary)
            for attempt in (1, 2):
                p = run_binary(binary, ["migrate"], wd, {})
                check_eq(p.returncode, 0, f"exit code of `{name} migrate` (run {attempt}) with no environment "
                                          f"(stderr: {p.stderr.decode(errors='replace')[-2000:]!r})")
        data = os.path.join(wd, "data")
        files = os.listdir(data) if os.path.isdir(data) else []
        for db in ("accounts.db", "wallet.db"):
            check(db in files, f"`migrate` with no configuration should create ./data/{db} (in {wd}: {files})")

    def refuses_without_credential():
        """Serving with no NUMHUB_SERVICE_CREDENTIAL fails closed, naming the variable."""
        wd = runner.workdir("defaults-nocred")
        for binary in (ARGS.accounts_binary, ARGS.wallet_binary):
            name = os.path.basename(binary)
            p = run_binary(binary, [], wd, {}, timeout=60)
            err = p.stderr.decode(errors="replace")
            check(p.returncode != 0, f"`{name}` with no environment should refuse to serve without a service "
                                     f"credential; exit code {p.returncode}")
            check("NUMHUB_SERVICE_CREDENTIAL" in err,
                  f"`{name}` without a credential should name NUMHUB_SERVICE_CREDENTIAL; stderr: {err[-1000:]!r}")
            for bad in ("x" * 31, "a 40-character secret with spaces in it"):
                p = run_binary(binary, [], wd, {"NUMHUB_SERVICE_CREDENTIAL": bad}, timeout=60)
                err = p.stderr.decode(errors="replace")
                check(p.returncode != 0 and "NUMHUB_SERVICE_CREDENTIAL" in err,
                      f"`{name}` with NUMHUB_SERVICE_CREDENTIAL={bad!r} should refuse to start naming the "
                      f"variable; exit {p.returncode}, stderr {err[-500:]!r}")
                if len(bad) >= 32 and bad in err:
                    # A would-be secret (long enough, one typo) ends up verbatim on stderr, i.e. in the logs.
                    deviation(f"`{name}` echoes a refused NUMHUB_SERVICE_CREDENTIAL verbatim in its error "
                              f"({err.splitlines()[1][:90]}...)")

    def serve():
        wd = runner.workdir("defaults")
        dep = Deployment("defaults", wd, admin_key=False, debug_logs=False, ports=(50051, 9051, 50052, 9052))
        # Nothing but the credential: every other setting is the default one.
        for p in dep.processes():
            p.env = {"NUMHUB_SERVICE_CREDENTIAL": dep.credential}
        ctx = Ctx("defaults", dep)
        try:
            dep.start()
            check(dep.printed_admin_key, "numhub-accounts without NUMHUB_ADMIN_KEY printed no admin key on "
                                         f"stderr at its first start:\n{tail(dep.accounts.err_path)}")
            a = ctx.account("defaults")  # with the printed admin key
            ctx.credit(a, 42)
            check_eq(ctx.balance(a), 42, "balance after a credit, read with the customer's key through the "
                                         "wallet, which resolved it at the default accounts address")
            for p in dep.processes():
                status, _, body = http_get(p.metrics_url())
                check_eq(status, 200, f"GET {p.metrics_url()}")
            t_sqlite_files(ctx)
            t_sigterm_idle(ctx)
            note(dep.check_logs_clean())
        finally:
            dep.kill()

    runner.run("defaults/migrate", migrate)
    runner.run("defaults/refuses_without_credential", refuses_without_credential)
    runner.run("defaults/serve", serve)


def t_data_dir_override():
    """NUMHUB_DATA_DIR moves the SQLite databases out of ./data."""
    wd = tempfile.mkdtemp(prefix="numhub-e2e-datadir-")
    try:
        other = os.path.join(wd, "elsewhere")
        for binary in (ARGS.accounts_binary, ARGS.wallet_binary):
            name = os.path.basename(binary)
            p = run_binary(binary, ["migrate"], wd, {"NUMHUB_DATA_DIR": other})
            check_eq(p.returncode, 0, f"exit code of `NUMHUB_DATA_DIR={other} {name} migrate` "
                                      f"(stderr: {p.stderr.decode(errors='replace')[-2000:]!r})")
        files = os.listdir(other) if os.path.isdir(other) else []
        check("accounts.db" in files and "wallet.db" in files, f"NUMHUB_DATA_DIR={other} holds {files}")
        check(not os.path.exists(os.path.join(wd, "data")), "./data was created although NUMHUB_DATA_DIR was set")
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def scenario_sqlite(runner: Runner):
    names = ["sqlite/start"] + suite_names("sqlite", RPC_SUITE + SHUTDOWN_SUITE) + ["sqlite/data_dir",
                                                                                 "sqlite/data_dir_override"]
    if not any(runner.wanted(n) for n in names):
        return
    wd = runner.workdir("sqlite")
    dep = Deployment("sqlite", wd)
    ctx = run_server_scenario(runner, "sqlite", dep)
    runner.run("sqlite/data_dir", t_sqlite_files, ctx)
    runner.run("sqlite/data_dir_override", t_data_dir_override)


def scenario_postgres(runner: Runner):
    names = ["postgres/reachable", "postgres/migrate", "postgres/start"]
    if not any(runner.wanted(n) for n in names + suite_names("postgres", RPC_SUITE + SHUTDOWN_SUITE)):
        return
    why = postgres_unreachable()
    if why:
        if os.environ.get("CI") == "true":
            runner.fail("postgres/reachable", f"PostgreSQL is mandatory under CI=true but unreachable: {why}")
            return
        bar = "!" * 78
        print(f"{bar}\n!! SKIPPING the PostgreSQL scenario: {why}\n"
              f"!! (set NUMHUB_TEST_POSTGRES_URL or start PostgreSQL; under CI=true this is a failure)\n{bar}",
              flush=True)
        runner.skipped.append(("postgres/*", why))
        return
    runner.passed.append("postgres/reachable")
    print("PASS postgres/reachable", flush=True)
    try:
        dbs = FreshDatabases("accounts", "wallet").__enter__()
    except Failure as e:
        runner.fail("postgres/create_database", str(e))
        return
    try:
        wd = runner.workdir("postgres")
        urls = {"accounts": dbs.url("accounts"), "wallet": dbs.url("wallet")}

        def migrate():
            for svc, binary in (("accounts", ARGS.accounts_binary), ("wallet", ARGS.wallet_binary)):
                for attempt in (1, 2):
                    r = run_binary(binary, ["migrate"], wd, {"NUMHUB_DATABASE_URL": urls[svc]})
                    check_eq(r.returncode, 0, f"exit code of `numhub-{svc} migrate` (run {attempt}) against "
                                              f"{urls[svc]} (stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
                tables = psql(urls[svc], "SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
                check(tables.returncode == 0 and int(tables.stdout.strip() or 0) > 0,
                      f"`migrate` left no tables in {urls[svc]}: {tables.stdout.strip()} {tables.stderr.strip()}")

        if not runner.run("postgres/migrate", migrate):
            runner.not_run(["postgres/start"] + suite_names("postgres", RPC_SUITE + SHUTDOWN_SUITE),
                           "migrate failed")
            return
        dep = Deployment("postgres", wd, accounts_db=urls["accounts"], wallet_db=urls["wallet"])
        run_server_scenario(runner, "postgres", dep)
    finally:
        dbs.__exit__(None, None, None)


def main() -> int:
    runner = Runner("test_wallet.py")
    if runner.binaries_ok():
        print(f"numhub wallet e2e: binaries {ARGS.accounts_binary} {ARGS.wallet_binary}", flush=True)
        scenario_defaults(runner)
        scenario_sqlite(runner)
        scenario_postgres(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
