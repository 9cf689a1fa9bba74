#!/usr/bin/env python3
"""Client-compatibility check: redis-py (Debian's python3-redis, 4.3.x).

Usage: redis_py_check.py PORT AUTH_PORT PASSWORD

PORT is a fresh server without a password, AUTH_PORT one with `requirepass`
set to PASSWORD; both on 127.0.0.1. Prints one line per check and exits 1 at
the first error or mismatch (an exception from redis-py counts as one).
Uses only commands ringkv implements; every socket operation has a timeout.
"""

import sys

import redis

TIMEOUT_S = 5.0
PIPELINE_COMMANDS = 1000


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"  ok: {what}")


def connect(port, **options):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=TIMEOUT_S,
                       socket_connect_timeout=TIMEOUT_S, **options)


def check_basics(client):
    check(client.ping() is True, "PING -> True")
    check(client.echo(b"hello") == b"hello", "ECHO round-trips")
    info = client.info()
    check("redis_version" in info and info.get("loading") == 0,
          "INFO parses, with redis_version and loading:0")


def check_strings(client):
    # Every byte value, CR LF and NUL included, in both key and value.
    key = b"py:bin\x00\r\n\xff" + bytes(range(256))
    value = bytes(range(256)) * 4 + b"\r\n\x00"
    check(client.set(key, value) is True, "SET of a binary key and value")
    check(client.get(key) == value, "GET returns the binary value byte for byte")
    check(client.strlen(key) == len(value), "STRLEN counts bytes")
    check(client.get("py:missing") is None, "GET of a missing key -> None")
    check(client.set("py:nx", "1", nx=True) is True, "SET NX on a new key")
    check(client.set("py:nx", "2", nx=True) is None, "SET NX on an existing key -> None")
    check(client.set("py:nx", "3", xx=True) is True, "SET XX on an existing key")
    check(client.append("py:nx", "4") == 2, "APPEND returns the new length")
    check(client.getdel("py:nx") == b"34", "GETDEL returns the value")
    check(client.exists("py:nx") == 0, "GETDEL removed the key")
    unicode_value = "ключ-值-🔑"
    client.set("py:unicode", unicode_value)
    check(client.get("py:unicode") == unicode_value.encode("utf-8"),
          "a str value is stored as UTF-8")
    text_client = connect(client.connection_pool.connection_kwargs["port"],
                          decode_responses=True)
    check(text_client.get("py:unicode") == unicode_value,
          "decode_responses=True decodes it back")
    text_client.close()


def check_multi_key(client):
    mapping = {f"py:m{i}": f"v{i}" for i in range(10)}
    check(client.mset(mapping) is True, "MSET of 10 keys")
    keys = list(mapping) + ["py:missing"]
    expected = [value.encode() for value in mapping.values()] + [None]
    check(client.mget(keys) == expected, "MGET of 10 keys and a missing one")
    check(client.exists(*mapping) == 10, "EXISTS counts 10 keys")
    check(client.msetnx({"py:m0": "x", "py:new": "y"}) is False,
          "MSETNX with an existing key -> False")
    check(client.get("py:new") is None, "MSETNX set nothing")
    check(client.delete(*mapping) == 10, "DEL of 10 keys -> 10")


def check_pipeline(client):
    pipe = client.pipeline(transaction=False)
    for i in range(PIPELINE_COMMANDS // 2):
        pipe.set(f"py:p{i}", f"value-{i}")
        pipe.get(f"py:p{i}")
    replies = pipe.execute()
    check(len(replies) == PIPELINE_COMMANDS,
          f"pipeline(transaction=False) of {PIPELINE_COMMANDS} commands: "
          f"{PIPELINE_COMMANDS} replies")
    expected = []
    for i in range(PIPELINE_COMMANDS // 2):
        expected += [True, f"value-{i}".encode()]
    check(replies == expected, "pipeline replies in order and correct")
    check(client.dbsize() >= PIPELINE_COMMANDS // 2, "DBSIZE counts the pipelined keys")


def check_client_name(port):
    client = connect(port)
    check(client.client_getname() is None, "CLIENT GETNAME before SETNAME -> None")
    check(client.client_setname("py-check") is True, "CLIENT SETNAME")
    check(client.client_getname() == "py-check", "CLIENT GETNAME returns it")
    check(isinstance(client.client_id(), int), "CLIENT ID is an integer")
    names = [entry.get("name") for entry in client.client_list()]
    check("py-check" in names, "CLIENT LIST parses and shows the name")
    client.close()
    named = connect(port, client_name="py-on-connect")
    check(named.client_getname() == "py-on-connect",
          "client_name= is sent on connect (CLIENT SETNAME)")
    named.close()


def check_auth(port, password):
    anonymous = connect(port)
    try:
        anonymous.get("py:auth")
    except redis.exceptions.AuthenticationError:
        print("  ok: without a password: AuthenticationError (NOAUTH)")
    else:
        raise AssertionError("a command without AUTH was accepted")
    anonymous.close()
    wrong = connect(port, password="not-" + password)
    try:
        wrong.ping()
    except redis.exceptions.AuthenticationError as error:
        print(f"  ok: a wrong password: AuthenticationError ({error})")
    except redis.exceptions.ResponseError as error:
        # redis-py 4.3 passes the AUTH reply's WRONGPASS through as is.
        check(str(error).startswith("WRONGPASS"), f"a wrong password: {error}")
    else:
        raise AssertionError("a wrong password was accepted")
    wrong.close()
    client = connect(port, password=password, client_name="py-auth")
    check(client.ping() is True, "password= sends AUTH; PING -> True")
    check(client.set("py:auth", "secret") is True and client.get("py:auth") == b"secret",
          "SET/GET after AUTH")
    check(client.client_getname() == "py-auth", "AUTH then CLIENT SETNAME on connect")
    client.close()


def check_protocol_3(port):
    # RESP3 support (protocol=3) arrived in redis-py 5.0.
    major = int(redis.__version__.split(".")[0])
    if major < 5:
        print(f"  note: redis-py {redis.__version__} has no protocol=3; RESP2 only")
        return
    client = connect(port, protocol=3)
    check(client.ping() is True, "protocol=3 (HELLO 3): PING")
    client.set("py:resp3", "three")
    check(client.get("py:resp3") == b"three", "protocol=3: SET/GET")
    client.close()


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    port, auth_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print(f"redis-py {redis.__version__} on python {sys.version.split()[0]}")
    try:
        client = connect(port)
        check_basics(client)
        check_strings(client)
        check_multi_key(client)
        check_pipeline(client)
        client.close()
        check_client_name(port)
        check_auth(auth_port, password)
        check_protocol_3(port)
    except Exception as error:  # noqa: BLE001 - any failure fails the check
        print(f"  FAIL: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
