"""Compare HTTP transports for the LM clients, side by side in one run.

Against the loopback provider server (its own process), prints for each transport:
- throughput and client CPU per request with `--concurrency` requests in flight
  and `--latency` seconds of server latency (the evaluation engine's situation);
- client CPU per request for sequential calls with no latency (a single program call).

Transports: httpx's own async client, httpx over the aiohttp transport
(httpx-aiohttp), aiohttp directly, and (sequential only) the synchronous ones:
httpx.Client, dspex_lab's blocking pool (what a synchronous LM call uses) and a
bare http.client keep-alive connection. Figures are medians of `--runs` runs.

    .venv/bin/python benchmarks/bench_transport.py
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import time

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from dspex_lab.lm.blocking import BlockingPool
from dspex_lab.testing import ProviderServer

BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "[[ ## question ## ]]\nWhat is 2+2?"}]}
).encode()
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
PATH = "/v1/chat/completions"


def httpx_native(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=60)


def httpx_over_aiohttp(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=60)


async def run_httpx(make, url: str, n: int, concurrency: int) -> tuple[float, float]:
    async with make(concurrency) as client:
        return await drive(lambda: client.post(url, content=BODY, headers=HEADERS), n, concurrency, httpx_read)


async def httpx_read(response: httpx.Response) -> None:
    assert response.status_code == 200
    json.loads(response.content)


async def run_aiohttp(url: str, n: int, concurrency: int) -> tuple[float, float]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one():
            async with session.post(url, data=BODY, headers=HEADERS, timeout=timeout) as response:
                assert response.status == 200
                json.loads(await response.read())

        return await drive(one, n, concurrency, None)


async def drive(call, n: int, concurrency: int, read) -> tuple[float, float]:
    """(requests per second, client CPU ms per request) for n calls, `concurrency` at a time."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one():
        async with semaphore:
            result = await call()
            if read is not None:
                await read(result)

    await asyncio.gather(*(one() for _ in range(min(n, concurrency))))  # warm the connections
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1000


def bare_http_client(port: int, n: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(100):
        connection.request("POST", PATH, BODY, HEADERS)
        json.loads(connection.getresponse().read())
    cpu = time.process_time()
    for _ in range(n):
        connection.request("POST", PATH, BODY, HEADERS)
        json.loads(connection.getresponse().read())
    connection.close()
    return (time.process_time() - cpu) / n * 1000


def blocking_pool(url: str, n: int) -> float:
    pool = BlockingPool()
    for _ in range(100):
        json.loads(pool.post(url, HEADERS, BODY, 60).body)
    cpu = time.process_time()
    for _ in range(n):
        json.loads(pool.post(url, HEADERS, BODY, 60).body)
    pool.close()
    return (time.process_time() - cpu) / n * 1000


def httpx_sync(url: str, n: int) -> float:
    with httpx.Client(timeout=60) as client:
        for _ in range(100):
            json.loads(client.post(url, content=BODY, headers=HEADERS).content)
        cpu = time.process_time()
        for _ in range(n):
            json.loads(client.post(url, content=BODY, headers=HEADERS).content)
        return (time.process_time() - cpu) / n * 1000


TRANSPORTS = {
    "httpx (own pool)": lambda url, n, c: run_httpx(httpx_native, url, n, c),
    "httpx over aiohttp": lambda url, n, c: run_httpx(httpx_over_aiohttp, url, n, c),
    "aiohttp": run_aiohttp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    latency_ms = args.latency * 1000
    print(f"concurrent: {args.requests} requests, {args.concurrency} in flight, server latency {latency_ms:g} ms")
    print(f"(ceiling: {args.concurrency / args.latency:,.0f} req/s); medians of {args.runs} runs\n")
    print(f"{'transport':<22}{'req/s':>10}{'CPU ms/req':>12}")
    with ProviderServer.spawn(latency=args.latency) as server:
        url = server.url + PATH
        for name, run in TRANSPORTS.items():
            results = [asyncio.run(run(url, args.requests, args.concurrency)) for _ in range(args.runs)]
            rate = statistics.median(r[0] for r in results)
            cpu = statistics.median(r[1] for r in results)
            print(f"{name:<22}{rate:>10,.0f}{cpu:>12.3f}")

    print(f"\nsequential: {args.sequential} calls one after another, no server latency; medians of {args.runs} runs\n")
    print(f"{'transport':<22}{'CPU ms/req':>12}")
    with ProviderServer.spawn() as server:
        url = server.url + PATH
        for name, run in TRANSPORTS.items():
            cpu = statistics.median(asyncio.run(run(url, args.sequential, 1))[1] for _ in range(args.runs))
            print(f"{name:<22}{cpu:>12.3f}")
        for name, sync in (("httpx.Client (sync)", httpx_sync), ("blocking pool (sync)", blocking_pool)):
            cpu = statistics.median(sync(url, args.sequential) for _ in range(args.runs))
            print(f"{name:<22}{cpu:>12.3f}")
        cpu = statistics.median(bare_http_client(server.port, args.sequential) for _ in range(args.runs))
        print(f"{'http.client (bare)':<22}{cpu:>12.3f}")


if __name__ == "__main__":
    main()
