"""The relay of an allowlist sandbox's proxy port: each connection to 127.0.0.1:3128 inside goes to the gate's
Unix socket (gate.sock, beside this file), after one line: the session's token (AISHELL_GATE_TOKEN). The gate
checks it and connects to squid as this session. The sandbox has no other way out: it runs with no network
interface but its loopback.

    python3 -I -S gate_relay.py FD    (started by gate_client.pl, FD its listening socket)
"""

import os
import socket
import sys
import threading

GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate.sock")


def pipe(source, target):
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay(client, token):
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


def main():
    listener = socket.socket(fileno=int(sys.argv[1]))
    token = os.environ.pop("AISHELL_GATE_TOKEN", "").encode()
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, token), daemon=True).start()


if __name__ == "__main__":
    main()
