"""The embedded Redis stand-in: fakeredis's TCP server on a loopback port.

Run as a script; it prints the port it bound on its first stdout line, then serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from fakeredis import TcpFakeServer


def main() -> int:
    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    received: list[int] = []
    # The handler only records the signal: taking a lock there could deadlock the main thread.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    print(server.server_address[1], flush=True)
    while not received:
        time.sleep(0.2)
    server.shutdown()  # also ends the connection threads (they watch its shutdown event)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
