"""A TCP round-robin proxy: each connection to the listening port goes to the next of
the backends, as a load balancer in front of several Odoo servers would.

    python scripts/round_robin.py LISTEN_PORT BACKEND_PORT [BACKEND_PORT ...]

Used by make bench-scale: queue_job's runner posts each job to one address (its
``[queue_job] host/port``); this spreads them over two Odoo processes.
"""

import asyncio
import itertools
import sys


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(listen_port, backends):
    turn = itertools.cycle(backends)

    async def handle(client_reader, client_writer):
        port = next(turn)
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), [int(port) for port in sys.argv[2:]]))
