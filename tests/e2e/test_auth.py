#!/usr/bin/env python3
"""End-to-end tests of numhub's accounts, API keys and auth layer, judged as an
outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. `numhub-accounts` and
`numhub-wallet` run as two processes on free ports, sharing a service
credential, with debug JSON logs that are searched for secrets at the end.

Scenarios:
  * auth           - SQLite, NUMHUB_ADMIN_KEY from `numhub-accounts
                     generate-key`, every other setting at its default
                     (including the 15 s auth cache and 60 requests/minute).
                     The operator creates customers A and B and their keys and
                     tops them up; each customer reads only its own data with
                     its own key (Bearer and x-api-key); rate limits with
                     RetryInfo, retry-after and x-ratelimit-*; a customer's own
                     key is created, listed without its secret, revoked, and
                     stops working within 30 s with the same answer as a
                     made-up key; every refusal path (no key, malformed key,
                     missing scope, API keys on internal RPCs, a wrong service
                     credential); the service credential on internal RPCs;
                     the wallet while accounts is down; no secret in any log.
  * bootstrap      - no NUMHUB_ADMIN_KEY: the admin key printed once on
                     stderr works, a second start prints none, a configured
                     NUMHUB_ADMIN_KEY later replaces it.
  * credentials    - a service-credential rotation (accounts accepts two, the
                     wallet sends the second), then a wallet whose credential
                     accounts refuses.
  * auth-postgres  - the auth scenario on fresh PostgreSQL databases, with a
                     2 s auth cache. Skipped loudly when PostgreSQL is
                     unreachable, unless CI=true, where it is mandatory.

Usage: test_auth.py [--accounts-binary PATH] [--wallet-binary PATH]
                    [--gen target/e2e-gen] [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid

from e2e_common import (  # noqa: E402
    ACCOUNTS_SERVICES, ADMIN, FAILED_PRECONDITION, INVALID_API_KEY, INVALID_ARGUMENT, INVALID_SERVICE_CREDENTIAL,
    KEY_RE, MISSING_CREDENTIAL, MISSING_SCOPE, NOT_FOUND, PERMISSION_DENIED, PRINTED_KEY_RE, RATE_LIMITED,
    RATELIMIT_LIMIT, RATELIMIT_REMAINING, READ, RESOURCE_EXHAUSTED, RETRY_AFTER, SERVICE_CREDENTIAL_REQUIRED,
    UNAUTHENTICATED, UNAVAILABLE, WALLET_SERVICES, WRITE, A, ARGS, Client, Deployment, ErrorDetails, Failure,
    FreshDatabases, Runner, W, check, check_details, check_eq, check_health, check_key_shape, check_reflection,
    check_reflection_grpcurl, check_uuid7, deviation, dump_logs, generate_key, health_pb2, made_up_key, money,
    note, ok,
    postgres_unreachable, read_text, rid, service_credential, show, tail,
)

ACCOUNTS = "numhub.accounts.v1.AccountsService"
SCOPE_NAMES = {READ: "read", WRITE: "write", ADMIN: "admin"}


class AuthCtx:
    def __init__(self, scenario: str, dep: Deployment, cache_ttl: float):
        self.scenario = scenario
        self.dep = dep
        self.cache_ttl = cache_ttl
        self.a = self.b = None  # Account
        self.a_key = self.b_key = None  # CreateApiKeyResponse, read + write
        self.a_read = None  # read-only key of A
        self.a_write = None  # write-only key of A
        self.a_entries: list = []  # ledger entries of A, newest first
        self.b_entries: list = []
        self.presented: dict = {}  # made-up keys this test sent: none may reach a log

    def made_up(self, what: str, **kw) -> str:
        k = made_up_key(**kw)
        self.presented[f"made-up key ({what})"] = k
        return k

    def fresh_key(self, account_id: str, scopes=(READ,), name="fresh") -> A.CreateApiKeyResponse:
        return self.dep.create_key(account_id, scopes=scopes, name=name)


def same_answer(what: str, got: ErrorDetails, want: ErrorDetails) -> None:
    if got.signature() != want.signature():
        raise Failure(f"{what}: the answers differ\n      got:  {got} initial={got.initial} trailing-keys="
                      f"{[k for k, _ in got.trailing]}\n      want: {want} initial={want.initial} "
                      f"trailing-keys={[k for k, _ in want.trailing]}")


def refused(what: str, reply, code, reason, field=None) -> ErrorDetails:
    if reply.ok:
        raise Failure(f"{what}: expected {code.name} ({reason}), got OK {show(reply.response)}")
    return check_details(what, reply.error, code, reason, field)


def quota(reply, what: str) -> tuple:
    """(limit, remaining) from the x-ratelimit-* metadata, which must be there."""
    limit, remaining = reply.md(RATELIMIT_LIMIT), reply.md(RATELIMIT_REMAINING)
    check(limit is not None and remaining is not None,
          f"{what}: no {RATELIMIT_LIMIT}/{RATELIMIT_REMAINING} metadata (initial {reply.initial}, trailing "
          f"{[k for k, _ in reply.trailing]})")
    try:
        return int(limit), int(remaining)
    except ValueError:
        raise Failure(f"{what}: {RATELIMIT_LIMIT}={limit!r} {RATELIMIT_REMAINING}={remaining!r} are not integers")


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------


def t_health_and_reflection(ctx: AuthCtx):
    """Health and reflection answer without any credential, and ignore a bad one."""
    check_health(ctx.dep.accounts, ACCOUNTS_SERVICES)
    check_health(ctx.dep.wallet, WALLET_SERVICES)
    check_reflection(ctx.dep.accounts, ACCOUNTS_SERVICES)
    check_reflection(ctx.dep.wallet, WALLET_SERVICES)
    check_reflection_grpcurl(ctx.dep.accounts, ACCOUNTS_SERVICES)
    for proc in ctx.dep.processes():
        try:
            r = proc.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5,
                                  metadata=(("authorization", "Bearer not-a-key"),))
        except Exception as e:  # noqa: BLE001
            raise Failure(f"{proc.name}: health Check with a bogus credential failed: {e}")
        check_eq(r.status, health_pb2.HealthCheckResponse.SERVING, f"{proc.name}: health with a bogus credential")


def t_create_accounts(ctx: AuthCtx):
    dep = ctx.dep
    admin = dep.admin().accounts_admin
    ra, rb = rid(), rid()
    first = admin.CreateAccount.reply(A.CreateAccountRequest(display_name="Customer A Ltd", request_id=ra))
    check(first.ok, f"CreateAccount A with the admin key: {first}")
    a = first.response
    check_uuid7(a.id, "Account.id")
    check_eq((a.display_name, a.operator), ("Customer A Ltd", False), "Account A (display_name, operator)")
    check_eq((a.rate_limits.requests_per_minute, a.rate_limits.money_requests_per_minute), (60, 10),
             "Account A's quotas (the server's defaults)")
    check(a.HasField("create_time"), "Account.create_time is unset")
    limit, _ = quota(first, "CreateAccount with the admin key")
    check_eq(limit, 600, f"{RATELIMIT_LIMIT} of the operator's key (NUMHUB_ACCOUNTS_OPERATOR_RATE_LIMIT default)")
    again = ok("CreateAccount A retried with the same request_id",
               admin.CreateAccount, A.CreateAccountRequest(display_name="Customer A Ltd", request_id=ra))
    check_eq(again, a, "the retried CreateAccount (idempotent by request_id)")
    refused("CreateAccount reusing A's request_id with another display_name",
            admin.CreateAccount.reply(A.CreateAccountRequest(display_name="Someone else", request_id=ra)),
            FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    b = dep.create_account("Customer B GmbH", request_id=rb)
    check(b.id != a.id, "A and B got the same account id")
    for what, req, field in [
        ("empty display_name", A.CreateAccountRequest(display_name="", request_id=rid()), "display_name"),
        ("display_name of 201 chars", A.CreateAccountRequest(display_name="x" * 201, request_id=rid()),
         "display_name"),
        ("empty request_id", A.CreateAccountRequest(display_name="x", request_id=""), "request_id"),
        ("one quota set, not the other", A.CreateAccountRequest(
            display_name="x", request_id=rid(), rate_limits=A.RateLimits(requests_per_minute=5)), "rate_limits"),
    ]:
        refused(f"CreateAccount with {what}", admin.CreateAccount.reply(req), INVALID_ARGUMENT, "INVALID_FIELD",
                field)
    looked = ok("LookupAccount(A)", admin.LookupAccount, A.LookupAccountRequest(account_id=a.id))
    check_eq(looked, a, "LookupAccount(A)")
    listed = ok("ListAccounts", admin.ListAccounts, A.ListAccountsRequest(page_size=100)).accounts
    ids = [x.id for x in listed]
    check(a.id in ids and b.id in ids, f"ListAccounts should list A and B; lists {ids}")
    check_eq(ids.index(b.id) < ids.index(a.id), True, "ListAccounts is newest first (B after A)")
    check_eq(sum(1 for x in listed if x.operator), 1, "operator accounts in ListAccounts")
    ctx.a, ctx.b = a, b


def t_create_keys(ctx: AuthCtx):
    dep = ctx.dep
    admin = dep.admin().accounts_admin
    before = time.time()
    ka = dep.create_key(ctx.a.id, scopes=(READ, WRITE), name="A main")
    check_key_shape(ka.secret, "CreateAccountApiKey.secret")
    k = ka.api_key
    check_uuid7(k.id, "ApiKey.id")
    check_eq((k.account_id, k.name, list(k.scopes), k.state),
             (ctx.a.id, "A main", [READ, WRITE], A.API_KEY_STATE_ACTIVE), "the new key (account, name, scopes, state)")
    check_eq(k.prefix, ka.secret[:16], "ApiKey.prefix (the first characters of the secret)")
    check(not k.HasField("revoke_time") and not k.HasField("last_use_time"),
          f"a new key has revoke_time/last_use_time: {show(k)}")
    check(before - 60 <= k.create_time.seconds <= time.time() + 60, f"ApiKey.create_time {k.create_time}")
    ctx.a_key = ka
    ctx.b_key = dep.create_key(ctx.b.id, scopes=(READ, WRITE), name="B main")
    ctx.a_read = dep.create_key(ctx.a.id, scopes=(READ,), name="A read-only")
    ctx.a_write = dep.create_key(ctx.a.id, scopes=(WRITE,), name="A write-only")
    check(len({ka.secret, ctx.b_key.secret, ctx.a_read.secret, ctx.a_write.secret}) == 4, "two keys share a secret")
    for what, req, code, reason, field in [
        ("the admin scope on a customer account",
         A.CreateAccountApiKeyRequest(account_id=ctx.a.id, name="x", scopes=[READ, ADMIN]),
         INVALID_ARGUMENT, "INVALID_FIELD", "scopes"),
        ("no scope", A.CreateAccountApiKeyRequest(account_id=ctx.a.id, name="x", scopes=[]),
         INVALID_ARGUMENT, "INVALID_FIELD", "scopes"),
        ("a scope twice", A.CreateAccountApiKeyRequest(account_id=ctx.a.id, name="x", scopes=[READ, READ]),
         INVALID_ARGUMENT, "INVALID_FIELD", "scopes"),
        ("an empty name", A.CreateAccountApiKeyRequest(account_id=ctx.a.id, name="", scopes=[READ]),
         INVALID_ARGUMENT, "INVALID_FIELD", "name"),
        ("an account that does not exist",
         A.CreateAccountApiKeyRequest(account_id=str(uuid.uuid4()), name="x", scopes=[READ]),
         NOT_FOUND, "RESOURCE_NOT_FOUND", None),
    ]:
        r = admin.CreateAccountApiKey.reply(req)
        if r.ok:
            dep.remember("unexpected key", r.response.secret)
        refused(f"CreateAccountApiKey with {what}", r, code, reason, field)


def t_admin_top_up(ctx: AuthCtx):
    wa = ctx.dep.admin().wallet_admin
    entries = []
    for units, reason in ((5000, "welcome"), (250, "goodwill")):
        r = rid()
        tx = ok(f"WalletAdminService/Credit A {units}", wa.Credit,
                W.CreditRequest(account_id=ctx.a.id, amount=money(units), request_id=r, reason=reason)).transaction
        check_eq((tx.account_id, tx.amount, tx.request_id), (ctx.a.id, money(units, "USD"), r), "the admin Credit's entry")
        entries.insert(0, tx)
    check_eq(entries[0].balance_after, money(5250, "USD"), "A's balance_after")
    tb = ok("WalletAdminService/Credit B 700", wa.Credit,
            W.CreditRequest(account_id=ctx.b.id, amount=money(700), request_id=rid(), reason="welcome")).transaction
    ctx.a_entries, ctx.b_entries = entries, [tb]
    for acct, want in ((ctx.a, 5250), (ctx.b, 700)):
        bal = ok("GetAccountBalance", wa.GetAccountBalance, W.GetAccountBalanceRequest(account_id=acct.id))
        check_eq(bal.available, money(want, "USD"), f"GetAccountBalance({acct.display_name})")


def t_customers_read_own(ctx: AuthCtx):
    dep = ctx.dep
    for who, acct, key, want, entries in (("A", ctx.a, ctx.a_key, 5250, ctx.a_entries),
                                          ("B", ctx.b, ctx.b_key, 700, ctx.b_entries)):
        for header in ("bearer", "x-api-key"):
            c = dep.client(key.secret, header)
            r = c.wallet.GetBalance.reply(W.GetBalanceRequest())
            check(r.ok, f"{who}: GetBalance with its key in {header}: {r}")
            check_eq((r.response.account_id, r.response.available), (acct.id, money(want, "USD")),
                     f"{who}: GetBalance with its key in {header}")
            check(r.response.HasField("update_time"), f"{who}: Balance.update_time unset after credits")
            limit, remaining = quota(r, f"{who}: GetBalance with {header}")
            check_eq(limit, 60, f"{who}: {RATELIMIT_LIMIT} of a customer key (default quota)")
            lt = ok(f"{who}: ListTransactions with {header}", c.wallet.ListTransactions, W.ListTransactionsRequest())
            check_eq(list(lt.transactions), entries, f"{who}: its ledger, read with {header}")
            own = ok(f"{who}: GetAccount() with {header}", c.accounts.GetAccount, A.GetAccountRequest())
            check_eq(own, acct, f"{who}: GetAccount with an empty id (its own account)")
            own = ok(f"{who}: GetAccount(own id) with {header}", c.accounts.GetAccount,
                     A.GetAccountRequest(account_id=acct.id))
            check_eq(own, acct, f"{who}: GetAccount with its own id")
    # The scheme is case-insensitive (RFC 7235).
    lower = Client(dep, (("authorization", f"bearer {ctx.a_key.secret}"),))
    r = lower.wallet.GetBalance.reply(W.GetBalanceRequest())
    check(r.ok and r.response.account_id == ctx.a.id, f"`authorization: bearer <key>` (lower-case scheme): {r}")


def t_never_credited(ctx: AuthCtx):
    dep = ctx.dep
    c_acct = dep.create_account("Customer C, never topped up")
    key = dep.create_key(c_acct.id, scopes=(READ,), name="C")
    c = dep.client(key.secret)
    b = ok("GetBalance of a never-credited account", c.wallet.GetBalance, W.GetBalanceRequest())
    check_eq((b.account_id, b.available), (c_acct.id, money(0, "USD")), "balance of a never-credited account")
    check(not b.HasField("update_time"), f"a never-credited balance has update_time {b.update_time}")
    lt = ok("ListTransactions of a never-credited account", c.wallet.ListTransactions, W.ListTransactionsRequest())
    check_eq((list(lt.transactions), lt.next_page_token), ([], ""), "ledger of a never-credited account")
    r = dep.admin().wallet_admin.GetAccountBalance.reply(W.GetAccountBalanceRequest(account_id=c_acct.id))
    refused("GetAccountBalance (admin) of a never-credited account", r, NOT_FOUND, "RESOURCE_NOT_FOUND")


def burst(method, req, limit: int, extra: int = 10) -> tuple:
    """Calls as fast as possible until refused (at most limit + extra calls).
    Returns ([(seconds since the first call, Reply)], seconds of the whole burst)."""
    out = []
    t0 = time.monotonic()
    for _ in range(limit + extra):
        r = method.reply(req)
        out.append((time.monotonic() - t0, r))
        if not r.ok:
            break
    return out, time.monotonic() - t0


def check_burst(what: str, replies: list, elapsed: float, limit: int = 60) -> ErrorDetails:
    """The burst's answers follow the quota: `limit` calls pass with x-ratelimit-remaining
    counting down to 0, then RESOURCE_EXHAUSTED with RetryInfo and retry-after."""
    check(replies and not replies[-1][1].ok,
          f"{what}: {len(replies)} calls in {elapsed:.2f}s and none refused: {replies[-1][1] if replies else ''}")
    n = len(replies)
    # The quota is counted in a minute-long window opened by the key's first call, so the
    # 61st call within a minute is refused, however long the burst took.
    check(n == limit + 1,
          f"{what}: the first refusal was call {n} of a burst of {elapsed:.2f}s; expected call {limit + 1}")
    problems = []
    prev = None
    for i, (t, r) in enumerate(replies[:-1]):
        if not r.ok:
            problems.append(f"call {i + 1}: {r}")
            continue
        lim, rem = quota(r, f"{what}: call {i + 1}")
        if lim != limit:
            problems.append(f"call {i + 1}: {RATELIMIT_LIMIT} {lim}")
        if rem != limit - 1 - i:
            problems.append(f"call {i + 1} at {t:.2f}s: {RATELIMIT_REMAINING} {rem}, expected {limit - 1 - i}")
        if prev is not None and rem > prev:
            problems.append(f"call {i + 1}: {RATELIMIT_REMAINING} went up from {prev} to {rem}")
        prev = rem
    check(not problems, f"{what}: " + "; ".join(problems[:8]))
    check_eq(quota(replies[0][1], what), (limit, limit - 1), f"{what}: quota headers of the fresh key's first call")
    check_eq(prev, 0, f"{what}: {RATELIMIT_REMAINING} of the last call admitted")
    last = replies[-1][1]
    d = check_details(f"{what}: call {n}", last.error, RESOURCE_EXHAUSTED, RATE_LIMITED)
    check_eq(quota(last, f"{what}: the refused call"), (limit, 0), f"{what}: quota headers of the refused call")
    check_eq(len(d.retry_infos), 1, f"{what}: google.rpc.RetryInfo details in the refusal ({d})")
    delay = d.retry_infos[0].retry_delay.seconds + d.retry_infos[0].retry_delay.nanos / 1e9
    # The time left in the window the first call opened.
    check(60 - elapsed - 1 <= delay <= 60, f"{what}: RetryInfo.retry_delay {delay}s after a burst of "
                                           f"{elapsed:.2f}s (expected what is left of the minute)")
    ra = last.md(RETRY_AFTER)
    check(ra is not None, f"{what}: no {RETRY_AFTER} in the refusal's metadata (initial {last.initial}, trailing "
                          f"{[k for k, _ in last.trailing]})")
    check(ra.isdigit() and int(ra) == max(1, math.ceil(delay)),
          f"{what}: {RETRY_AFTER} {ra!r}, expected whole seconds rounded up from RetryInfo's {delay:.3f}s")
    return d


def t_rate_limit_wallet(ctx: AuthCtx):
    """A fresh key on WalletService/GetBalance: the 61st call of a burst is refused."""
    dep = ctx.dep
    key = ctx.fresh_key(ctx.a.id, name="rate-limit wallet")
    c = dep.client(key.secret)
    replies, elapsed = burst(c.wallet.GetBalance, W.GetBalanceRequest(), 60)
    d = check_burst("GetBalance burst", replies, elapsed)
    note(f"refused at call {len(replies)} after {elapsed:.2f}s: {d.message!r}, retry-after "
         f"{replies[-1][1].md(RETRY_AFTER)}")
    # Another key of the same account has a quota of its own.
    r = dep.client(ctx.a_key.secret).wallet.GetBalance.reply(W.GetBalanceRequest())
    check(r.ok, f"A's other key while the fresh key is limited: {r}")
    # After retry-after (the rest of the minute), a new window opens. Waited for once, in
    # the scenario with every setting at its default.
    if ctx.scenario == "auth":
        time.sleep(int(replies[-1][1].md(RETRY_AFTER)) + 0.05)
        r = c.wallet.GetBalance.reply(W.GetBalanceRequest())
        check(r.ok, f"GetBalance after waiting retry-after: {r}")
        check_eq(quota(r, "after retry-after"), (60, 59), "the quota headers of a new window")
    # A refusal for a missing scope also counts and carries the quota headers.
    w = dep.client(ctx.a_write.secret).wallet.GetBalance.reply(W.GetBalanceRequest())
    refused("GetBalance with a write-only key", w, PERMISSION_DENIED, MISSING_SCOPE)
    quota(w, "a MISSING_SCOPE refusal")


def t_rate_limit_accounts(ctx: AuthCtx):
    """The same quota on the accounts service itself (AccountsService/GetAccount)."""
    key = ctx.fresh_key(ctx.b.id, name="rate-limit accounts")
    c = ctx.dep.client(key.secret, "x-api-key")
    replies, elapsed = burst(c.accounts.GetAccount, A.GetAccountRequest(), 60)
    check_burst("GetAccount burst (x-api-key)", replies, elapsed)
    note(f"refused at call {len(replies)} after {elapsed:.2f}s")


def t_rate_limit_paced(ctx: AuthCtx):
    """61 calls spread over ~3 s, each well within one minute of the first."""
    key = ctx.fresh_key(ctx.b.id, name="rate-limit paced")
    c = ctx.dep.client(key.secret)
    t0 = time.monotonic()
    first_refusal = None
    for i in range(61):
        target = t0 + i * 0.05
        pause = target - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        r = c.wallet.GetBalance.reply(W.GetBalanceRequest())
        if not r.ok:
            check_details(f"paced call {i + 1}", r.error, RESOURCE_EXHAUSTED, RATE_LIMITED)
            first_refusal = i + 1
            break
    elapsed = time.monotonic() - t0
    if first_refusal != 61:
        deviation(f"61 GetBalance calls with one fresh key paced over {elapsed:.1f}s (all within a minute): "
                  f"{'none refused' if first_refusal is None else f'first refusal at call {first_refusal}'}")
    else:
        note(f"61st paced call refused after {elapsed:.1f}s")


def t_own_key_lifecycle(ctx: AuthCtx):
    """A customer creates a key, sees it listed without its secret, revokes it, and it
    stops working everywhere within 30 s, answered exactly like a key nobody issued."""
    dep = ctx.dep
    me = dep.client(ctx.a_key.secret)
    created = ok("CreateApiKey (A's own key)", me.accounts.CreateApiKey,
                 A.CreateApiKeyRequest(name="A's CI server", scopes=[READ]))
    secret = created.secret
    dep.remember("A's self-made key", secret)
    check_key_shape(secret, "CreateApiKey.secret")
    k = created.api_key
    check_eq((k.account_id, k.name, list(k.scopes), k.state, k.prefix),
             (ctx.a.id, "A's CI server", [READ], A.API_KEY_STATE_ACTIVE, secret[:16]), "the self-made key")
    # Listed, newest first, with the prefix and never a secret.
    listed = ok("ListApiKeys (A)", me.accounts.ListApiKeys, A.ListApiKeysRequest())
    check_eq(listed.api_keys[0].id, k.id, "the newest key listed first")
    raw = listed.SerializeToString()
    for what, s in dep.secrets.items():
        check(s.encode() not in raw, f"ListApiKeys shows a secret ({what})")
    check(not KEY_RE.search(str(listed)), f"ListApiKeys shows something shaped like a key: {show(listed)}")
    for item in listed.api_keys:
        check(len(item.prefix) == 16 and item.prefix.startswith("nh_live_"),
              f"ApiKey.prefix {item.prefix!r} (expected nh_live_ and 8 characters)")
    check_eq(listed.api_keys[0].prefix, secret[:16], "the listed prefix of the self-made key")
    check(not listed.api_keys[0].HasField("last_use_time"), "a key never used has a last_use_time")
    # The key works, on both services: each now remembers it for the cache window.
    new = dep.client(secret)
    ok("GetBalance with the self-made key", new.wallet.GetBalance, W.GetBalanceRequest())
    ok("GetAccount with the self-made key", new.accounts.GetAccount, A.GetAccountRequest())
    used = ok("ListApiKeys (A)", me.accounts.ListApiKeys, A.ListApiKeysRequest()).api_keys[0]
    check(used.HasField("last_use_time") and abs(used.last_use_time.seconds - time.time()) < 120,
          f"last_use_time of a key just used: {show(used)}")
    # A key cannot grant what it does not hold: this one is read-only.
    r = new.accounts.CreateApiKey.reply(A.CreateApiKeyRequest(name="x", scopes=[READ]))
    refused("CreateApiKey with a read-only key", r, PERMISSION_DENIED, MISSING_SCOPE)
    # Revoke it.
    t_revoke = time.monotonic()
    rev = ok("RevokeApiKey (A's own key)", me.accounts.RevokeApiKey, A.RevokeApiKeyRequest(api_key_id=k.id))
    check_eq((rev.id, rev.state), (k.id, A.API_KEY_STATE_REVOKED), "the revoked key")
    check(rev.HasField("revoke_time"), "a revoked key has no revoke_time")
    again = ok("RevokeApiKey again", me.accounts.RevokeApiKey, A.RevokeApiKeyRequest(api_key_id=k.id))
    check_eq(again, rev, "revoking a revoked key returns it unchanged")
    # It stops working within the cache window (30 s at most), on each service: poll both.
    probes = {"wallet": (new.wallet.GetBalance, W.GetBalanceRequest()),
              "accounts": (new.accounts.GetAccount, A.GetAccountRequest())}
    times, answers = {}, {}
    while len(times) < len(probes):
        for name, (method, req) in probes.items():
            if name not in times:
                r = method.reply(req)
                if not r.ok:
                    times[name] = time.monotonic() - t_revoke
                    answers[name] = refused(f"{name} with the revoked key", r, UNAUTHENTICATED, INVALID_API_KEY)
        waited = time.monotonic() - t_revoke
        check(len(times) == len(probes) or waited < 30,
              f"the revoked key still works on {[n for n in probes if n not in times]} {waited:.1f}s after "
              f"RevokeApiKey (the contract: 30 s at most)")
        # Gently: while cached the key still works, and each poll counts against its
        # 60-a-minute quota (about 20 calls used before the revocation).
        time.sleep(0.75)
    for name, (method, req) in probes.items():
        refused(f"{name} with the revoked key, once more", method.reply(req), UNAUTHENTICATED, INVALID_API_KEY)
    note("revoked key refused by the wallet after %.1fs, by accounts after %.1fs (auth cache %ss)"
         % (times["wallet"], times["accounts"], ctx.cache_ttl))
    check(max(times.values()) <= ctx.cache_ttl + 5,
          f"the revoked key worked for {max(times.values()):.1f}s, longer than the {ctx.cache_ttl}s cache")
    # Exactly the answer of keys nobody issued, well-formed or not.
    unused = generate_key()
    ctx.presented["an unused key from generate-key"] = unused
    others = (("a made-up key with a valid checksum", ctx.made_up("well-formed")),
              ("an unused key from generate-key", unused),
              ("a made-up key with a wrong checksum", ctx.made_up("bad checksum", valid_checksum=False)))
    for what, other in others:
        c = dep.client(other)
        for name, r in (("wallet", c.wallet.GetBalance.reply(W.GetBalanceRequest())),
                        ("accounts", c.accounts.GetAccount.reply(A.GetAccountRequest()))):
            check(not r.ok, f"{name} accepted {what}")
            same_answer(f"{name}: the revoked key vs {what}", answers[name], r.error)
    # Listing: hidden unless asked for.
    active = ok("ListApiKeys", me.accounts.ListApiKeys, A.ListApiKeysRequest()).api_keys
    check(k.id not in [x.id for x in active], "ListApiKeys lists the revoked key without show_revoked")
    every = ok("ListApiKeys show_revoked", me.accounts.ListApiKeys, A.ListApiKeysRequest(show_revoked=True)).api_keys
    mine = [x for x in every if x.id == k.id]
    check(mine and mine[0].state == A.API_KEY_STATE_REVOKED, f"ListApiKeys show_revoked: {show(mine)}")
    # The internal resolution agrees.
    internal = dep.internal().accounts_internal.Authenticate
    r1 = internal.reply(A.AuthenticateRequest(api_key=secret))
    r2 = internal.reply(A.AuthenticateRequest(api_key=ctx.made_up("authenticate")))
    d1 = refused("Authenticate(revoked key)", r1, UNAUTHENTICATED, INVALID_API_KEY)
    d2 = refused("Authenticate(made-up key)", r2, UNAUTHENTICATED, INVALID_API_KEY)
    same_answer("Authenticate: revoked key vs a made-up key", d1, d2)


def t_isolation(ctx: AuthCtx):
    """B never reads or changes A's data."""
    dep = ctx.dep
    b = dep.client(ctx.b_key.secret)
    a = dep.client(ctx.a_key.secret)
    r = b.accounts.GetAccount.reply(A.GetAccountRequest(account_id=ctx.a.id))
    d = refused("B: GetAccount(A's id)", r, NOT_FOUND, "RESOURCE_NOT_FOUND")
    check(ctx.a.display_name not in d.message, f"the refusal names A: {d.message!r}")
    ghost = b.accounts.GetAccount.reply(A.GetAccountRequest(account_id=str(uuid.uuid4())))
    d2 = refused("B: GetAccount(an id nobody has)", ghost, NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_eq((d.code, d.reason), (d2.code, d2.reason), "B: A's id vs an unknown id")
    # B cannot revoke A's key, and A's key keeps working.
    r = b.accounts.RevokeApiKey.reply(A.RevokeApiKeyRequest(api_key_id=ctx.a_read.api_key.id))
    refused("B: RevokeApiKey(A's key id)", r, NOT_FOUND, "RESOURCE_NOT_FOUND")
    ok("A's key after B tried to revoke it", dep.client(ctx.a_read.secret).wallet.GetBalance, W.GetBalanceRequest())
    a_keys = ok("A: ListApiKeys", a.accounts.ListApiKeys, A.ListApiKeysRequest(show_revoked=True)).api_keys
    still = [x for x in a_keys if x.id == ctx.a_read.api_key.id]
    check(still and still[0].state == A.API_KEY_STATE_ACTIVE, f"A's key after B's attempt: {show(still)}")
    # B's lists hold only B's things.
    b_keys = ok("B: ListApiKeys", b.accounts.ListApiKeys, A.ListApiKeysRequest(show_revoked=True)).api_keys
    check(b_keys, "B: ListApiKeys is empty")
    check_eq({x.account_id for x in b_keys}, {ctx.b.id}, "account_id of every key B lists")
    check(not {x.id for x in b_keys} & {x.id for x in a_keys}, "B lists one of A's keys")
    bal = ok("B: GetBalance", b.wallet.GetBalance, W.GetBalanceRequest())
    check_eq((bal.account_id, bal.available), (ctx.b.id, money(700, "USD")), "B's balance")
    entries = ok("B: ListTransactions", b.wallet.ListTransactions, W.ListTransactionsRequest(page_size=100)).transactions
    check_eq({t.account_id for t in entries}, {ctx.b.id}, "account_id of every entry B lists")
    check_eq([t.id for t in entries], [t.id for t in ctx.b_entries], "B's ledger")
    check(not {t.id for t in entries} & {t.id for t in ctx.a_entries}, "B lists one of A's entries")
    # A page token of A's listing does not open A's ledger to B.
    pa = ok("A: ListTransactions page 1", a.wallet.ListTransactions, W.ListTransactionsRequest(page_size=1))
    if pa.next_page_token:
        r = b.wallet.ListTransactions.reply(W.ListTransactionsRequest(page_size=100, page_token=pa.next_page_token))
        if r.ok:
            check(all(t.account_id == ctx.b.id for t in r.response.transactions),
                  f"B with A's page token lists {show(list(r.response.transactions))}")


def t_missing_scope(ctx: AuthCtx):
    dep = ctx.dep
    read = dep.client(ctx.a_read.secret)
    write = dep.client(ctx.a_write.secret)
    cust = dep.client(ctx.a_key.secret)
    cases = [
        ("read-only key: CreateApiKey", read.accounts.CreateApiKey,
         A.CreateApiKeyRequest(name="x", scopes=[READ]), "write"),
        ("read-only key: RevokeApiKey", read.accounts.RevokeApiKey,
         A.RevokeApiKeyRequest(api_key_id=ctx.a_write.api_key.id), "write"),
        ("write-only key: GetBalance", write.wallet.GetBalance, W.GetBalanceRequest(), "read"),
        ("write-only key: ListApiKeys", write.accounts.ListApiKeys, A.ListApiKeysRequest(), "read"),
        ("write-only key: CreateApiKey granting read", write.accounts.CreateApiKey,
         A.CreateApiKeyRequest(name="x", scopes=[READ]), "read"),
        ("read-write key: CreateApiKey granting admin", cust.accounts.CreateApiKey,
         A.CreateApiKeyRequest(name="x", scopes=[READ, ADMIN]), "admin"),
        ("customer key: CreateAccount", cust.accounts_admin.CreateAccount,
         A.CreateAccountRequest(display_name="x", request_id=rid()), "admin"),
        ("customer key: LookupAccount", cust.accounts_admin.LookupAccount,
         A.LookupAccountRequest(account_id=ctx.b.id), "admin"),
        ("customer key: ListAccounts", cust.accounts_admin.ListAccounts, A.ListAccountsRequest(), "admin"),
        ("customer key: CreateAccountApiKey", cust.accounts_admin.CreateAccountApiKey,
         A.CreateAccountApiKeyRequest(account_id=ctx.b.id, name="x", scopes=[READ]), "admin"),
        ("customer key: RevokeAccountApiKey", cust.accounts_admin.RevokeAccountApiKey,
         A.RevokeAccountApiKeyRequest(api_key_id=ctx.b_key.api_key.id), "admin"),
        ("customer key: WalletAdminService/Credit", cust.wallet_admin.Credit,
         W.CreditRequest(account_id=ctx.a.id, amount=money(1_000_000), request_id=rid()), "admin"),
        ("customer key: WalletAdminService/GetAccountBalance", cust.wallet_admin.GetAccountBalance,
         W.GetAccountBalanceRequest(account_id=ctx.b.id), "admin"),
        ("customer key via x-api-key: WalletAdminService/Credit", dep.client(ctx.a_key.secret, "x-api-key")
         .wallet_admin.Credit, W.CreditRequest(account_id=ctx.a.id, amount=money(1_000_000), request_id=rid()),
         "admin"),
    ]
    problems = []
    for what, method, req, scope in cases:
        r = method.reply(req)
        try:
            d = refused(what, r, PERMISSION_DENIED, MISSING_SCOPE)
            if dict(d.infos[0].metadata).get("scope") != scope:
                problems.append(f"{what}: ErrorInfo.metadata {dict(d.infos[0].metadata)}, expected scope={scope}")
        except Failure as e:
            problems.append(str(e))
        if r.ok and hasattr(r.response, "secret"):
            dep.remember(f"key made by {what}", r.response.secret)
    check(not problems, f"{len(problems)} scope checks failed:\n    - " + "\n    - ".join(problems))
    bal = ok("A's balance", cust.wallet.GetBalance, W.GetBalanceRequest())
    check_eq(bal.available, money(5250, "USD"), "A's balance after the refused admin Credits")
    ok("B's key after A tried to revoke it", dep.client(ctx.b_key.secret).accounts.GetAccount, A.GetAccountRequest())


def t_unauthenticated(ctx: AuthCtx):
    dep = ctx.dep
    anon = dep.anonymous()
    api_key_rpcs = [
        ("WalletService/GetBalance", lambda c: c.wallet.GetBalance, W.GetBalanceRequest()),
        ("WalletService/ListTransactions", lambda c: c.wallet.ListTransactions, W.ListTransactionsRequest()),
        ("WalletAdminService/Credit", lambda c: c.wallet_admin.Credit,
         W.CreditRequest(account_id=ctx.a.id, amount=money(1), request_id=rid())),
        ("WalletAdminService/GetAccountBalance", lambda c: c.wallet_admin.GetAccountBalance,
         W.GetAccountBalanceRequest(account_id=ctx.a.id)),
        ("AccountsService/GetAccount", lambda c: c.accounts.GetAccount, A.GetAccountRequest()),
        ("AccountsService/CreateApiKey", lambda c: c.accounts.CreateApiKey,
         A.CreateApiKeyRequest(name="x", scopes=[READ])),
        ("AccountsService/ListApiKeys", lambda c: c.accounts.ListApiKeys, A.ListApiKeysRequest()),
        ("AccountsService/RevokeApiKey", lambda c: c.accounts.RevokeApiKey,
         A.RevokeApiKeyRequest(api_key_id=ctx.a_key.api_key.id)),
        ("AccountsAdminService/CreateAccount", lambda c: c.accounts_admin.CreateAccount,
         A.CreateAccountRequest(display_name="x", request_id=rid())),
        ("AccountsAdminService/ListAccounts", lambda c: c.accounts_admin.ListAccounts, A.ListAccountsRequest()),
    ]
    problems = []

    def expect(what, reply, code, reason):
        try:
            return refused(what, reply, code, reason)
        except Failure as e:
            problems.append(str(e))

    for name, pick, req in api_key_rpcs:
        expect(f"{name} with no credential", pick(anon).reply(req), UNAUTHENTICATED, MISSING_CREDENTIAL)
        for what, md in (("an empty x-api-key", (("x-api-key", ""),)),
                         ("`authorization: Bearer` with no token", (("authorization", "Bearer"),)),
                         ("a Basic authorization", (("authorization", "Basic " + ctx.a_key.secret),))):
            expect(f"{name} with {what}", pick(Client(dep, md)).reply(req), UNAUTHENTICATED, MISSING_CREDENTIAL)
    secret = ctx.a_key.secret
    malformed = {
        "a word": "hello",
        "the bare prefix": "nh_live_",
        "a truncated key": secret[:-1],
        "a key with an extra character": secret + "x",
        "a key with one character changed": secret[:20] + ("A" if secret[20] != "A" else "B") + secret[21:],
        "a key of the test environment": ctx.made_up("test environment", env="test"),
        "the service credential": dep.credential,
        "a made-up key with a valid checksum": ctx.made_up("unknown"),
    }
    for name, pick, req in api_key_rpcs[:1] + api_key_rpcs[4:5] + api_key_rpcs[8:9]:
        reference = None
        for what, key in malformed.items():
            for header in ("bearer", "x-api-key"):
                d = expect(f"{name} with {what} ({header})", pick(dep.client(key, header)).reply(req),
                           UNAUTHENTICATED, INVALID_API_KEY)
                if d is None:
                    continue
                if reference is None:
                    reference = (what, d)
                elif d.signature() != reference[1].signature():
                    problems.append(f"{name}: {what} ({header}) answered {d}, {reference[0]} answered "
                                    f"{reference[1]}: malformed and unknown keys must get one answer")
    check(not problems, f"{len(problems)} unauthenticated checks failed:\n    - " + "\n    - ".join(problems[:15]))
    # Nothing changed.
    check_eq(ok("A's balance", dep.client(secret).wallet.GetBalance, W.GetBalanceRequest()).available,
             money(5250, "USD"), "A's balance after the refused calls")


def t_internal_rpcs(ctx: AuthCtx):
    dep = ctx.dep
    a_secret = ctx.a_key.secret
    debit = W.DebitRequest(account_id=ctx.a.id, amount=money(250), request_id=rid(), reference="activation:e2e")
    internal_rpcs = [
        ("WalletInternalService/Debit", lambda c: c.wallet_internal.Debit, debit),
        ("WalletInternalService/Credit", lambda c: c.wallet_internal.Credit,
         W.CreditRequest(account_id=ctx.a.id, amount=money(1_000_000), request_id=rid())),
        ("WalletInternalService/Refund", lambda c: c.wallet_internal.Refund,
         W.RefundRequest(debit_transaction_id=str(uuid.uuid4()), request_id=rid())),
        ("AccountsInternalService/Authenticate", lambda c: c.accounts_internal.Authenticate,
         A.AuthenticateRequest(api_key=a_secret)),
    ]
    problems = []

    def expect(what, reply, code, reason):
        try:
            return refused(what, reply, code, reason)
        except Failure as e:
            problems.append(str(e))

    for name, pick, req in internal_rpcs:
        for who, key in (("a customer key", a_secret), ("the admin key", dep.admin_key)):
            expect(f"{name} with {who} (Bearer)", pick(dep.client(key)).reply(req), PERMISSION_DENIED,
                   SERVICE_CREDENTIAL_REQUIRED)
            r = pick(dep.client(key, "x-api-key")).reply(req)
            if r.ok:
                problems.append(f"{name} with {who} in x-api-key: expected a refusal, got OK")
            elif (r.code, r.error.reason) != (PERMISSION_DENIED, SERVICE_CREDENTIAL_REQUIRED):
                expect(f"{name} with {who} in x-api-key", r, UNAUTHENTICATED, MISSING_CREDENTIAL)
                if who == "a customer key" and name == internal_rpcs[0][0]:
                    deviation(f"an API key sent as x-api-key to an internal RPC gets {r.code.name} "
                              f"{r.error.reason} ({r.error.message!r}), not PERMISSION_DENIED "
                              f"SERVICE_CREDENTIAL_REQUIRED as access.proto says for any API key")
        expect(f"{name} with no credential", pick(dep.anonymous()).reply(req), UNAUTHENTICATED, MISSING_CREDENTIAL)
        expect(f"{name} with a wrong service credential", pick(dep.client(service_credential())).reply(req),
               UNAUTHENTICATED, INVALID_SERVICE_CREDENTIAL)
        expect(f"{name} with the credential plus one character",
               pick(dep.client(dep.credential + "x")).reply(req), UNAUTHENTICATED, INVALID_SERVICE_CREDENTIAL)
    check(not problems, f"{len(problems)} internal-RPC refusals wrong:\n    - " + "\n    - ".join(problems[:15]))
    me = dep.client(a_secret).wallet
    check_eq(ok("A's balance", me.GetBalance, W.GetBalanceRequest()).available, money(5250, "USD"),
             "A's balance after the refused internal calls")
    # The service credential works: Debit, Refund, Authenticate.
    svc = dep.internal()
    d = ok("Debit with the service credential", svc.wallet_internal.Debit, debit).transaction
    check_eq((d.account_id, d.amount, d.balance_after), (ctx.a.id, money(-250, "USD"), money(5000, "USD")),
             "the internal Debit")
    check_eq(ok("A's balance", me.GetBalance, W.GetBalanceRequest()).available, money(5000, "USD"),
             "A's balance after the Debit, as A sees it")
    rf = ok("Refund with the service credential", svc.wallet_internal.Refund,
            W.RefundRequest(debit_transaction_id=d.id, amount=money(100), request_id=rid(), reason="e2e")).transaction
    check_eq((rf.refunded_transaction_id, rf.balance_after), (d.id, money(5100, "USD")), "the internal Refund")
    seen = ok("A's ledger", me.ListTransactions, W.ListTransactionsRequest()).transactions
    check_eq([t.id for t in seen[:2]], [rf.id, d.id], "A sees the Debit and the Refund in its ledger")
    ctx.a_entries = list(seen)
    who = ok("Authenticate(A's key) with the service credential", svc.accounts_internal.Authenticate,
             A.AuthenticateRequest(api_key=a_secret))
    check_eq((who.account_id, who.api_key_id, sorted(who.scopes)),
             (ctx.a.id, ctx.a_key.api_key.id, [READ, WRITE]), "Authenticate's answer for A's key")
    check_eq((who.rate_limits.requests_per_minute, who.rate_limits.money_requests_per_minute), (60, 10),
             "Authenticate: A's quotas")
    unknown = svc.accounts_internal.Authenticate.reply(A.AuthenticateRequest(api_key=ctx.made_up("auth unknown")))
    d1 = refused("Authenticate(a made-up key)", unknown, UNAUTHENTICATED, INVALID_API_KEY)
    bad = svc.accounts_internal.Authenticate.reply(A.AuthenticateRequest(api_key="garbage"))
    d2 = refused("Authenticate(garbage)", bad, UNAUTHENTICATED, INVALID_API_KEY)
    same_answer("Authenticate: a malformed key vs an unknown one", d2, d1)
    # The service credential is not an API key: public RPCs refuse it like any unknown key.
    r = dep.client(dep.credential).wallet.GetBalance.reply(W.GetBalanceRequest())
    refused("GetBalance with the service credential", r, UNAUTHENTICATED, INVALID_API_KEY)


def t_key_limit(ctx: AuthCtx):
    """At most 20 active keys per account; revoking one makes room."""
    dep = ctx.dep
    acct = dep.create_account("Customer D, many keys")
    first = dep.create_key(acct.id, scopes=(READ, WRITE), name="D main")
    me = dep.client(first.secret).accounts
    made = [first]
    for i in range(19):
        r = ok(f"CreateApiKey #{i + 2}", me.CreateApiKey, A.CreateApiKeyRequest(name=f"D {i + 2}", scopes=[READ]))
        dep.remember(f"D key {i + 2}", r.secret)
        made.append(r)
    r = me.CreateApiKey.reply(A.CreateApiKeyRequest(name="D 21", scopes=[READ]))
    if r.ok:
        dep.remember("D key 21", r.response.secret)
    refused("the 21st active key", r, FAILED_PRECONDITION, "TOO_MANY_API_KEYS")
    r = dep.admin().accounts_admin.CreateAccountApiKey.reply(
        A.CreateAccountApiKeyRequest(account_id=acct.id, name="D by admin", scopes=[READ]))
    if r.ok:
        dep.remember("D admin key 21", r.response.secret)
    refused("the 21st active key, made by the operator", r, FAILED_PRECONDITION, "TOO_MANY_API_KEYS")
    ok("RevokeAccountApiKey (operator)", dep.admin().accounts_admin.RevokeAccountApiKey,
       A.RevokeAccountApiKeyRequest(api_key_id=made[5].api_key.id))
    r = ok("a key after one was revoked", me.CreateApiKey, A.CreateApiKeyRequest(name="D again", scopes=[READ]))
    dep.remember("D key again", r.secret)
    page1 = ok("ListApiKeys page_size 7", me.ListApiKeys, A.ListApiKeysRequest(page_size=7))
    ids, token, pages = [x.id for x in page1.api_keys], page1.next_page_token, 1
    while token:
        pages += 1
        p = ok(f"ListApiKeys page {pages}", me.ListApiKeys, A.ListApiKeysRequest(page_size=7, page_token=token))
        ids += [x.id for x in p.api_keys]
        token = p.next_page_token
    check_eq(len(ids), 20, "active keys listed over pages of 7")
    check_eq(len(set(ids)), 20, "distinct keys listed over pages of 7")


def t_accounts_unreachable(ctx: AuthCtx):
    """With accounts down, API-key calls to the wallet get UNAVAILABLE; the service
    credential still works, and so does health. Back up, the key works."""
    dep = ctx.dep
    key = ctx.fresh_key(ctx.b.id, name="while accounts is down")
    dep.accounts.stop()
    try:
        r = dep.client(key.secret).wallet.GetBalance.reply(W.GetBalanceRequest())
        refused("GetBalance with a key the wallet never saw, accounts down", r, UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE")
        tx = ok("internal Credit while accounts is down", dep.internal().wallet_internal.Credit,
                W.CreditRequest(account_id=ctx.b.id, amount=money(1), request_id=rid(), reason="accounts down"))
        ctx.b_entries.insert(0, tx)
        check_health(dep.wallet, WALLET_SERVICES)
    finally:
        dep.start_accounts()
    deadline = time.monotonic() + 15
    while True:
        r = dep.client(key.secret).wallet.GetBalance.reply(W.GetBalanceRequest())
        if r.ok or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(r.ok, f"GetBalance once accounts is back: {r}")
    check_eq(r.response.available, money(701, "USD"), "B's balance once accounts is back")


def t_sigterm(ctx: AuthCtx):
    for p in (ctx.dep.wallet, ctx.dep.accounts):
        p.close_channel()
        rc, secs = p.terminate()
        if rc is None:
            p.kill()
        check_eq(rc, 0, f"{p.name}: exit code {secs:.2f}s after SIGTERM")


def t_logs_clean(ctx: AuthCtx):
    note(ctx.dep.check_logs_clean(ctx.presented))


AUTH_SUITE = [
    ("health_and_reflection_without_credentials", t_health_and_reflection),
    ("create_accounts_idempotent", t_create_accounts),
    ("create_account_keys", t_create_keys),
    ("admin_top_up", t_admin_top_up),
    ("customers_read_their_own_wallet", t_customers_read_own),
    ("never_credited_balance_is_zero", t_never_credited),
    ("rate_limit_wallet_burst", t_rate_limit_wallet),
    ("rate_limit_accounts_burst", t_rate_limit_accounts),
    ("rate_limit_paced", t_rate_limit_paced),
    ("own_key_create_list_revoke", t_own_key_lifecycle),
    ("customers_isolated", t_isolation),
    ("missing_scope", t_missing_scope),
    ("unauthenticated", t_unauthenticated),
    ("internal_rpcs_service_credential_only", t_internal_rpcs),
    ("key_limit_and_paging", t_key_limit),
    ("wallet_while_accounts_is_down", t_accounts_unreachable),
    ("sigterm_exits_0", t_sigterm),
    ("no_secrets_in_logs", t_logs_clean),
]
# Checks that need what the earlier ones made.
NEEDS_SETUP = {"create_accounts_idempotent", "create_account_keys", "admin_top_up"}


def run_auth_scenario(runner: Runner, scenario: str, dep: Deployment, cache_ttl: float):
    names = [f"{scenario}/start"] + [f"{scenario}/{n}" for n, _ in AUTH_SUITE]
    if not any(runner.wanted(n) for n in names):
        return
    ctx = AuthCtx(scenario, dep, cache_ttl)
    before = len(runner.failed)
    try:
        if not runner.run(f"{scenario}/start", dep.start, force=True):
            runner.not_run(names[1:], "the servers did not start")
            return
        stopped = False
        for i, (name, fn) in enumerate(AUTH_SUITE):
            full = f"{scenario}/{name}"
            if runner.wanted(full):
                passed = runner.run(full, fn, ctx)
            elif name in NEEDS_SETUP:
                passed = _quiet(fn, ctx, runner, full)  # what later checks need, even when filtered out
            else:
                continue
            if name in NEEDS_SETUP and not passed:
                runner.not_run([f"{scenario}/{n}" for n, _ in AUTH_SUITE[i + 1:]], f"{name} failed")
                return
            if name == "sigterm_exits_0":
                stopped = True
            if not stopped and not dep.running():
                dead = [f"{p.name} (exit code {p.proc and p.proc.returncode})" for p in dep.processes()
                        if not p.running()]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(dead)} died during {name}")
                runner.not_run([f"{scenario}/{n}" for n, _ in AUTH_SUITE[i + 1:-1]], "a server died")
                runner.run(f"{scenario}/no_secrets_in_logs", t_logs_clean, ctx)
                return
    finally:
        dep.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {dep.workdir}", flush=True)
            dump_logs(dep)


def _quiet(fn, ctx, runner, name) -> bool:
    """Runs a setup check that was filtered out by -k: failures still count."""
    try:
        fn(ctx)
        return True
    except Exception as e:  # noqa: BLE001
        runner.fail(name, f"(setup) {e}")
        return False


# --- bootstrap: no NUMHUB_ADMIN_KEY -------------------------------------------


def scenario_bootstrap(runner: Runner):
    scenario = "bootstrap"
    names = [f"{scenario}/{n}" for n in ("first_start_prints_admin_key", "second_start_prints_nothing",
                                         "configured_key_replaces_printed_one", "no_secrets_in_logs")]
    if not any(runner.wanted(n) for n in names):
        return
    wd = runner.workdir(scenario)
    dep = Deployment(scenario, wd, admin_key=False)
    state = {}

    def first():
        dep.start()
        err = read_text(dep.accounts.err_path)
        printed = PRINTED_KEY_RE.findall(err)
        check_eq(len(printed), 1, f"admin keys printed on stderr at the first start:\n{tail(dep.accounts.err_path)}")
        key = printed[0]
        check_key_shape(key, "the printed admin key")
        line = next(ln for ln in err.splitlines() if key in ln)
        check(not line.lstrip().startswith("{"), f"the admin key was printed inside a log line: {line[:200]}")
        check(key not in read_text(dep.accounts.out_path), "the admin key was printed on stdout")
        check(all(key not in read_text(p) for p in dep.output_files() if p != dep.accounts.err_path),
              "the admin key appears in another output")
        # It works: operator RPCs on both services.
        admin = dep.client(key)
        accts = ok("ListAccounts with the printed key", admin.accounts_admin.ListAccounts, A.ListAccountsRequest())
        ops = [a for a in accts.accounts if a.operator]
        check_eq(len(ops), 1, "operator accounts")
        mine = ok("ListApiKeys with the printed key", admin.accounts.ListApiKeys, A.ListApiKeysRequest()).api_keys
        check_eq([(k.prefix, sorted(k.scopes)) for k in mine], [(key[:16], [READ, WRITE, ADMIN])],
                 "the operator's keys (prefix, scopes)")
        cust = dep.create_account("bootstrapped customer")
        tx = ok("WalletAdminService/Credit with the printed key", admin.wallet_admin.Credit,
                W.CreditRequest(account_id=cust.id, amount=money(10), request_id=rid())).transaction
        check_eq(tx.balance_after, money(10, "USD"), "balance after a Credit with the printed key")
        state["key"] = key

    def second():
        check("key" in state, "the first start did not print a key")
        dep.accounts.stop()
        dep.start_accounts()
        err = read_text(dep.accounts.err_path)
        check(not PRINTED_KEY_RE.search(err) and not KEY_RE.search(err),
              f"the second start on the same data printed a key:\n{tail(dep.accounts.err_path)}")
        ok("ListAccounts with the printed key after a restart", dep.client(state["key"]).accounts_admin.ListAccounts,
           A.ListAccountsRequest())

    def replaced():
        check("key" in state, "the first start did not print a key")
        configured = generate_key()
        dep.accounts.stop()
        dep.accounts.env["NUMHUB_ADMIN_KEY"] = configured
        dep.configured_admin_key = dep.admin_key = configured
        dep.remember("admin key (NUMHUB_ADMIN_KEY)", configured)
        dep.start_accounts()
        check(not KEY_RE.search(read_text(dep.accounts.err_path)), "a start with NUMHUB_ADMIN_KEY printed a key")
        ok("ListAccounts with the configured key", dep.client(configured).accounts_admin.ListAccounts,
           A.ListAccountsRequest())
        r = dep.client(state["key"]).accounts_admin.ListAccounts.reply(A.ListAccountsRequest())
        refused("the printed key once NUMHUB_ADMIN_KEY is configured", r, UNAUTHENTICATED, INVALID_API_KEY)
        keys = ok("the operator's keys", dep.client(configured).accounts.ListApiKeys,
                  A.ListApiKeysRequest(show_revoked=True)).api_keys
        states = {k.prefix: A.ApiKeyState.Name(k.state) for k in keys}
        check_eq(states, {configured[:16]: "API_KEY_STATE_ACTIVE", state["key"][:16]: "API_KEY_STATE_REVOKED"},
                 "the operator's keys after configuring NUMHUB_ADMIN_KEY")

    def logs():
        dep.stop()
        note(dep.check_logs_clean())

    try:
        ok_first = runner.run(names[0], first)
        runner.run(names[1], second) if ok_first else runner.not_run(names[1:2], "no key was printed")
        runner.run(names[2], replaced) if ok_first else runner.not_run(names[2:3], "no key was printed")
        runner.run(names[3], logs)
    finally:
        dep.kill()


# --- service credentials: rotation and mismatch ---------------------------------


def scenario_credentials(runner: Runner):
    """accounts accepts two credentials (a rotation); the wallet sends the old one.
    Then the wallet restarts with a credential accounts does not accept."""
    scenario = "credentials"
    names = [f"{scenario}/{n}" for n in ("rotation", "wallet_with_a_credential_accounts_refuses",
                                         "no_secrets_in_logs")]
    if not any(runner.wanted(n) for n in names):
        return
    wd = runner.workdir(scenario)
    dep = Deployment(scenario, wd, wallet_env={"NUMHUB_AUTH_CACHE_TTL": "1s"})
    old, new, wrong = dep.credential, service_credential(), service_credential()
    dep.accounts.env["NUMHUB_SERVICE_CREDENTIAL"] = f"{new},{old}"
    dep.remember("the new service credential", new)
    dep.remember("a wrong service credential", wrong)
    state = {}

    def rotation():
        dep.start()
        acct = dep.create_account("rotation customer")
        key = dep.create_key(acct.id, scopes=(READ,))
        state["acct"], state["key"] = acct, key
        b = ok("GetBalance through a wallet that sends the second accepted credential",
               dep.client(key.secret).wallet.GetBalance, W.GetBalanceRequest())
        check_eq(b.account_id, acct.id, "the wallet resolved the key")
        for what, cred in (("the new", new), ("the old", old)):
            who = ok(f"Authenticate with {what} credential", dep.client(cred).accounts_internal.Authenticate,
                     A.AuthenticateRequest(api_key=key.secret))
            check_eq(who.account_id, acct.id, f"Authenticate with {what} credential")
        ok("the wallet's Credit with its own credential", dep.client(old).wallet_internal.Credit,
           W.CreditRequest(account_id=acct.id, amount=money(5), request_id=rid()))
        r = dep.client(new).wallet_internal.Credit.reply(W.CreditRequest(account_id=acct.id, amount=money(5),
                                                                          request_id=rid()))
        refused("the wallet's Credit with a credential only accounts accepts", r, UNAUTHENTICATED,
                INVALID_SERVICE_CREDENTIAL)

    def mismatch():
        check("key" in state, "the rotation check did not run")
        dep.wallet.stop()
        dep.wallet.env["NUMHUB_SERVICE_CREDENTIAL"] = wrong
        dep.wallet.start()
        r = dep.client(state["key"].secret).wallet.GetBalance.reply(W.GetBalanceRequest())
        check(not r.ok, f"a wallet that accounts refuses accepted a key: {r}")
        if (r.code, r.error.reason) == (UNAUTHENTICATED, INVALID_API_KEY):
            logged = [ln for ln in read_text(dep.wallet.err_path).splitlines()
                      if '"WARN"' in ln or '"ERROR"' in ln]
            deviation("a wallet whose service credential accounts refuses answers a valid customer key "
                      f"UNAUTHENTICATED INVALID_API_KEY ({r.error.message!r}) instead of UNAVAILABLE, and caches "
                      f"that answer; warnings logged: {len(logged)}")
        else:
            refused("a valid key through a wallet that accounts refuses", r, UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
        # Its own internal RPCs take its own (wrong) credential and nothing else.
        ok("the wallet's Credit with its configured credential", dep.client(wrong).wallet_internal.Credit,
           W.CreditRequest(account_id=state["acct"].id, amount=money(5), request_id=rid()))

    def logs():
        dep.stop()
        note(dep.check_logs_clean())

    try:
        first = runner.run(names[0], rotation)
        runner.run(names[1], mismatch) if first else runner.not_run(names[1:2], "rotation failed")
        runner.run(names[2], logs)
    finally:
        dep.kill()


# --- scenarios ---------------------------------------------------------------


def scenario_auth(runner: Runner):
    wd = runner.workdir("auth")
    # Every auth setting at its default: 15 s cache, 60 requests per minute, 600 for the operator.
    dep = Deployment("auth", wd)
    run_auth_scenario(runner, "auth", dep, cache_ttl=15)


def scenario_auth_postgres(runner: Runner):
    scenario = "auth-postgres"
    if not any(runner.wanted(f"{scenario}/{n}") for n in ["start", "reachable"] + [n for n, _ in AUTH_SUITE]):
        return
    why = postgres_unreachable()
    if why:
        if os.environ.get("CI") == "true":
            runner.fail(f"{scenario}/reachable", f"PostgreSQL is mandatory under CI=true but unreachable: {why}")
        else:
            print(f"{'!' * 78}\n!! SKIPPING {scenario}: {why}\n{'!' * 78}", flush=True)
            runner.skipped.append((f"{scenario}/*", why))
        return
    try:
        dbs = FreshDatabases("accounts", "wallet").__enter__()
    except Failure as e:
        runner.fail(f"{scenario}/create_database", str(e))
        return
    try:
        wd = runner.workdir(scenario)
        dep = Deployment(scenario, wd, accounts_db=dbs.url("accounts"), wallet_db=dbs.url("wallet"),
                         env={"NUMHUB_AUTH_CACHE_TTL": "2s"})
        run_auth_scenario(runner, scenario, dep, cache_ttl=2)
    finally:
        dbs.__exit__(None, None, None)


def main() -> int:
    runner = Runner("test_auth.py")
    if runner.binaries_ok():
        print(f"numhub auth e2e: binaries {ARGS.accounts_binary} {ARGS.wallet_binary}", flush=True)
        scenario_auth(runner)
        scenario_bootstrap(runner)
        scenario_credentials(runner)
        scenario_auth_postgres(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
