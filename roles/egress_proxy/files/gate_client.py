"""The egress proxy's address inside an allowlist sandbox: 127.0.0.1:3128, relayed to the gate's Unix socket.

Run as `python3 -I -S gate_client.py COMMAND...` (aishell_runner/session.py puts it first): it listens, forks
the relay, and only then runs COMMAND in its own place, so the first connection COMMAND makes finds the port
open. Each connection is relayed to gate.sock (beside this file) after one line, the session's token (from
AISHELL_GATE_TOKEN, which COMMAND does not inherit); the gate checks it and connects to squid as this
session. The sandbox has no other way out: it runs with no network interface but its loopback.
"""

# Not `socket`: its imports (enum, selectors) would double this forwarder's start, which every launch waits
# for. The relay, forked off once the port is open, imports what it likes.
import _socket
import os
import sys

PORT = 3128
GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate.sock")


def pipe(source, target):
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(1)  # SHUT_WR
    except OSError:
        pass


def relay(client, token):
    import socket
    import threading

    gate = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        gate.connect(GATE)
        gate.sendall(token + b"\n")
    except OSError as error:
        print(f"aishell egress gate: {error}", file=sys.stderr)
        client.close()
        gate.close()
        return
    back = threading.Thread(target=pipe, args=(gate, client), daemon=True)
    back.start()
    pipe(client, gate)
    back.join()
    client.close()
    gate.close()


def serve(listener, token):
    import socket
    import threading

    listener = socket.socket(fileno=listener.detach())
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, token), daemon=True).start()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gate_client.py COMMAND...")
    token = os.environ.pop("AISHELL_GATE_TOKEN", "").encode()
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", PORT))
        listener.listen(128)
    except OSError as error:
        # In use: a forwarder of this sandbox serves the port already (this one was started again inside).
        if error.errno != 98:  # EADDRINUSE
            print(f"aishell egress gate: cannot open 127.0.0.1:{PORT}: {error.strerror}", file=sys.stderr)
        listener.close()
        run(sys.argv[1:])
    if os.fork() == 0:
        os.setsid()  # out of the terminal's process group: Ctrl-C is the command's, not the relay's
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):
            os.dup2(devnull, fd)
        try:
            serve(listener, token)
        finally:
            os._exit(0)
    listener.close()
    run(sys.argv[1:])


def run(command):
    """COMMAND in this process's place."""
    try:
        os.execvp(command[0], command)
    except OSError as error:  # as a shell says it, with a shell's status
        print(f"{command[0]}: {error.strerror}", file=sys.stderr)
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)


if __name__ == "__main__":
    main()
