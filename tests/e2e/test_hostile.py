#!/usr/bin/env python3
"""numhub's six services as separate binaries on SQLite, called as a hostile
client would: every RPC of every contract, with each of its string fields in
turn (top-level and one message deep) set to 100 KiB, with the credential the
RPC takes (an API key, the operator's key, or the service credential).

Each call must be refused with a clear error: INVALID_ARGUMENT naming the
field (or NOT_FOUND, UNIMPLEMENTED, FAILED_PRECONDITION where the field is
not read), never OK, INTERNAL, UNKNOWN or RESOURCE_EXHAUSTED, and its message
must not echo the input: at most 1,024 bytes, with no more than 64 of the
input's characters in a row.

    python3 tests/e2e/test_hostile.py --gen target/e2e-gen [-k SUBSTRING]
    (run.sh passes the binaries)
"""

from __future__ import annotations

import sys

from e2e_common import (  # noqa: E402
    ARGS, WRITE, READ, Deployment, Failure, Runner, check, dump_logs, note,
)

import grpc  # noqa: E402
from google.protobuf import message_factory  # noqa: E402

from numhub.accounts.v1 import accounts_pb2  # noqa: E402
from numhub.catalog.v1 import catalog_pb2  # noqa: E402
from numhub.inbound.v1 import inbound_pb2  # noqa: E402
from numhub.orders.v1 import orders_pb2  # noqa: E402
from numhub.rentals.v1 import rentals_pb2  # noqa: E402
from numhub.wallet.v1 import wallet_pb2  # noqa: E402

HUGE = "A" * (100 << 10)
MAX_MESSAGE = 1024
MAX_QUOTE = 64
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED}
CONTRACTS = [(accounts_pb2, "accounts"), (wallet_pb2, "wallet"), (catalog_pb2, "catalog"),
             (rentals_pb2, "rentals"), (orders_pb2, "orders"), (inbound_pb2, "inbound")]


def string_paths(desc, depth: int = 0, prefix: str = "") -> list:
    """The paths of the string fields of a message, one message deep."""
    paths = []
    for f in desc.fields:
        if f.is_repeated and f.type != f.TYPE_STRING:
            continue
        if f.type == f.TYPE_STRING:
            paths.append((prefix + f.name, f.is_repeated))
        elif f.type == f.TYPE_MESSAGE and depth == 0 and not f.message_type.full_name.startswith("google."):
            paths += string_paths(f.message_type, depth + 1, prefix + f.name + ".")
    return paths


def request_with(cls, path: str, repeated: bool):
    req = cls()
    target = req
    parts = path.split(".")
    for part in parts[:-1]:
        target = getattr(target, part)
    if repeated:
        getattr(target, parts[-1]).append(HUGE)
    else:
        setattr(target, parts[-1], HUGE)
    return req


def echoes(text: str) -> bool:
    return "A" * (MAX_QUOTE + 1) in text


def sweep(dep: Deployment, customer_key: str) -> None:
    problems = []
    calls = 0
    for module, process in CONTRACTS:
        channel = getattr(dep, process).channel
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.name.endswith("InternalService"):
                metadata = (("authorization", f"Bearer {dep.credential}"),)
            elif service.name.endswith("AdminService"):
                metadata = (("authorization", f"Bearer {dep.admin_key}"),)
            else:
                metadata = (("authorization", f"Bearer {customer_key}"),)
            for method in service.methods:
                cls = message_factory.GetMessageClass(method.input_type)
                out = message_factory.GetMessageClass(method.output_type)
                path = f"/{service.full_name}/{method.name}"
                for field, repeated in string_paths(method.input_type):
                    what = f"{service.name}/{method.name} with 100 KiB in `{field}`"
                    req = request_with(cls, field, repeated)
                    calls += 1
                    try:
                        if method.server_streaming:
                            call = channel.unary_stream(path, request_serializer=cls.SerializeToString,
                                                        response_deserializer=out.FromString)
                            stream = call(req, metadata=metadata, timeout=5)
                            next(iter(stream))
                            stream.cancel()
                        else:
                            call = channel.unary_unary(path, request_serializer=cls.SerializeToString,
                                                       response_deserializer=out.FromString)
                            call(req, metadata=metadata, timeout=10)
                        problems.append(f"{what}: accepted")
                        continue
                    except grpc.RpcError as e:
                        code, details = e.code(), e.details() or ""
                    # Authenticate answers an unknown key, however long, as the contract says.
                    expected = ALLOWED | ({grpc.StatusCode.UNAUTHENTICATED} if method.name == "Authenticate" else set())
                    if code not in expected:
                        problems.append(f"{what}: {code.name} {details[:200]!r}")
                    if len(details.encode()) > MAX_MESSAGE or echoes(details):
                        problems.append(f"{what}: a {len(details)}-character message echoing the input")
    note(f"{calls} calls, each with 100 KiB in one string field")
    if problems:
        raise Failure(f"{len(problems)} of {calls} calls were not refused as they should be:\n    - "
                      + "\n    - ".join(problems))


def main() -> int:
    runner = Runner("test_hostile.py")
    binaries = (ARGS.accounts_binary, ARGS.wallet_binary, ARGS.catalog_binary, ARGS.rentals_binary,
                ARGS.orders_binary, ARGS.inbound_binary)
    if not runner.binaries_ok(binaries):
        return runner.finish()
    dep = Deployment("hostile", runner.workdir("hostile"), catalog=True, orders=True, inbound=True,
                     debug_logs=False)
    state = {}

    def start():
        dep.start()
        account = dep.create_account("e2e hostile", rate_limits=(100_000, 100_000)).id
        state["key"] = dep.create_key(account, scopes=(READ, WRITE), name="hostile").secret
        check(state["key"], "no customer key")

    def every_rpc():
        sweep(dep, state["key"])

    def unknown_method():
        path = "/numhub.orders.v1.OrdersService/" + "X" * 4000
        call = dep.orders.channel.unary_unary(path)
        try:
            call(b"", metadata=(("authorization", f"Bearer {state['key']}"),), timeout=5)
            raise Failure("an unknown method answered OK")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNIMPLEMENTED, f"an unknown method: {e.code()}")
            check(not echoes((e.details() or "").replace("X", "A")),
                  f"an unknown method's error echoes its path: {len(e.details() or '')} characters")

    try:
        if runner.run("sqlite/start", start, force=True):
            runner.run("sqlite/every_rpc_refuses_huge_strings_without_echo", every_rpc)
            runner.run("sqlite/unknown_method_not_echoed", unknown_method)
        else:
            runner.not_run(["sqlite/every_rpc_refuses_huge_strings_without_echo",
                            "sqlite/unknown_method_not_echoed"], "the servers did not start")
    finally:
        dep.kill()
        if runner.failed:
            dump_logs(dep)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
