"""aishell egress gate: a mitmproxy addon that lets sandboxes with no network reach squid through a Unix socket.

An allowlist sandbox runs with `--network none`: no interface but its own loopback. It mounts the gate's
directory, and a small forwarder inside (gate_client.pl, gate_relay.py) relays each connection to
127.0.0.1:3128 over gate.sock, after one line: the session's token. aishell-run writes each session's registration to
/etc/aishell-egress/clients/<ADDRESS> (egress.register) with the line `gate=SHA256(TOKEN)`; the token is
"ADDRESS/SECRET", so the gate finds the file without a search. A token whose file does not name its digest
is refused (the connection is closed).

squid tells sessions apart by their client address, as it always has: the gate connects to it from the
session's own loopback address (all of 127.0.0.0/8 is local), so squid's policy helper reads the same file.

It runs in the credential broker's process (the same container, in squid's network namespace, as the user
who owns the files): mitmdump loads it beside broker.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
from pathlib import Path

SOCKET = Path(os.environ.get("AISHELL_GATE_SOCKET", "/run/aishell-gate/gate.sock"))
CLIENTS = Path(os.environ.get("AISHELL_EGRESS_CLIENTS", "/etc/aishell-egress/clients"))
SQUID = ("127.0.0.1", 3128)
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
TOKEN_SECONDS = 10  # a connection that names no session within this is dropped
CHUNK = 65536


def session_address(token: str) -> str | None:
    """The loopback address the token's registration is filed under, when the registration names the token."""
    address, _, secret = token.partition("/")
    try:
        if not secret or ipaddress.IPv4Address(address) not in LOOPBACK:
            return None
        lines = (CLIENTS / address).read_text().splitlines()
    except (ValueError, OSError):
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return address if f"gate={digest}" in lines else None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    upstream = None
    try:
        line = await asyncio.wait_for(reader.readline(), TOKEN_SECONDS)
        address = session_address(line.decode("ascii", "replace").strip())
        if address is None:
            return
        up_reader, upstream = await asyncio.open_connection(*SQUID, local_addr=(address, 0))
        await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        for stream in (writer, upstream):
            if stream is not None:
                stream.close()


class Gate:
    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None

    async def running(self) -> None:
        SOCKET.unlink(missing_ok=True)  # a socket of an earlier start
        self.server = await asyncio.start_unix_server(_serve, path=str(SOCKET))
        # Sandboxes connect as their own user (Docker: the user's IDs; rootless Podman: the user's, mapped).
        os.chmod(SOCKET, 0o666)

    def done(self) -> None:
        if self.server is not None:
            self.server.close()
        SOCKET.unlink(missing_ok=True)


addons = [Gate()]
