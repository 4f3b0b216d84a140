"""tests/support/tcp_forward.py LISTEN_PORT TARGET_HOST:PORT — a TCP
forwarder the tests put between a worker and the dev server, so that a
test can take "the server" away (kill this process: every connection
drops, nothing listens) and bring it back (start it again on the same
port) without touching the dev server the other tests share. Prints
"ready" once listening."""
import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(port, target):
    host, tport = target.rsplit(":", 1)

    async def on_client(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(host, int(tport))
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))

    server = await asyncio.start_server(on_client, "127.0.0.1", port, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
