"""Faults at the provider: outages during an evaluation, rate limits measured at the server, huge replies.

1. Outages. A 200-example evaluation (Predict + exact match, concurrency 8)
   against a loopback server in its own process that answers after 100 ms. One
   second into the run the server answers every request with 503 for the given
   time; the run uses default LM and evaluation settings. Prints errors, status
   and wall time per outage length (0 = no outage, the baseline).
2. Rate limits. For `--minutes` minutes, 32 callers call one LM made with
   rpm=120 and 32 call another made with tpm=6000 and max_tokens=200 (a reply
   uses far fewer). The server records when each request arrived and the tokens
   its reply reported; the script prints the most requests and tokens any
   sliding 60 s window carried, against the limit, and the longest wait a call had.
3. Huge replies. Six calls whose replies are 50 MB each, with the default
   max_reply_bytes (4 MiB) and with max_reply_bytes raised to 64 MiB; prints the
   client's RSS growth and what the history keeps.

    cd benchmarks && ../.venv/bin/python bench_faults.py [--minutes 2] [--outages 1 10] [--cooldowns 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import tempfile
import threading
import time
from pathlib import Path

import dspex_lab as dx
from dspex_lab.testing import ProviderServer

QUESTION = re.compile(r"\[\[ ## question ## \]\]\n(.*?)\n")


def oracle(request) -> str:
    question = QUESTION.search(request.last_user_message).group(1)
    return f"[[ ## answer ## ]]\nanswer {question.split()[-1]}\n\n[[ ## completed ## ]]"


def exact_match(example, prediction, trace=None):
    return example.answer == prediction.answer


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def outage_run(seconds: float, cooldown: float | None = None) -> str:
    devset = [dx.Example(question=f"question {i}", answer=f"answer {i}").with_inputs("question") for i in range(200)]
    with ProviderServer.spawn(latency=0.1, responder="bench_faults:oracle") as server:
        options = {} if cooldown is None else {"circuit_cooldown": cooldown}
        lm = dx.LM("openai/outage", api_base=server.url, api_key="x", cache=False, **options)
        program = dx.Predict("question -> answer", lm=lm)
        if seconds:
            timer = threading.Timer(1.0, server.outage, args=(seconds,))
            timer.start()
        start = time.perf_counter()
        result = dx.evaluate(program, devset, exact_match, concurrency=8, progress=False)
        wall = time.perf_counter() - start
        failed = sum(record["fault"] == "503" for record in server.requests())
    setting = "default settings" if cooldown is None else f"circuit_cooldown={cooldown:g}"
    return (
        f"  outage {seconds:>4g} s, {setting}: {len(result.errors):>3} errors of 200, status {result.status}, "
        f"wall {wall:5.1f} s, score {result.score:.3f}, {failed} requests answered 503"
    )


def max_window(times: list[float], weights: list[float]) -> float:
    pairs = sorted(zip(times, weights, strict=True))
    best = total = 0.0
    first = 0
    for at, weight in pairs:
        total += weight
        while pairs[first][0] + 60 <= at:
            total -= pairs[first][1]
            first += 1
        best = max(best, total)
    return best


def rate_run(minutes: float) -> list[str]:
    with ProviderServer(record=1_000_000) as server:
        by_rpm = dx.LM("openai/rpm", api_base=server.url, api_key="x", cache=False, rpm=120)
        by_tpm = dx.LM("openai/tpm", api_base=server.url, api_key="x", cache=False, tpm=6000, max_tokens=200)
        deadline = time.monotonic() + minutes * 60
        waits: dict[str, float] = {"rpm": 0.0, "tpm": 0.0}

        async def caller(lm: dx.BaseLM, name: str, number: int) -> None:
            while time.monotonic() < deadline:
                start = time.monotonic()
                await lm.acall(f"caller {number} asks a short question at {start:.3f}")
                waits[name] = max(waits[name], time.monotonic() - start)

        async def main() -> None:
            await asyncio.gather(
                *(caller(by_rpm, "rpm", n) for n in range(32)), *(caller(by_tpm, "tpm", n) for n in range(32))
            )

        asyncio.run(main())
        records = server.requests()
    lines = []
    for name, limit in (("rpm", 120), ("tpm", 6000)):
        mine = [r for r in records if r["body"]["model"] == name]
        times = [r["at"] for r in mine]
        count = max_window(times, [1.0] * len(times))
        tokens = max_window(times, [float(r["tokens"]) for r in mine])
        measured = count if name == "rpm" else tokens
        lines.append(
            f"  {name}={limit}: {len(mine)} requests in {minutes:g} min; most in any 60 s window: "
            f"{count:.0f} requests, {tokens:.0f} tokens ({measured / limit:.0%} of the limit); "
            f"longest call {waits[name]:.1f} s"
        )
    return lines


def huge_run() -> list[str]:
    lines = []
    with ProviderServer.spawn() as server, tempfile.TemporaryDirectory() as cache_dir:
        for label, options in (
            ("default max_reply_bytes (4 MiB)", {}),
            ("max_reply_bytes=64 MiB", {"max_reply_bytes": 64 << 20}),
        ):
            with dx.context(cache_dir=cache_dir):
                lm = dx.LM("openai/huge", api_base=server.url, api_key="x", num_retries=0, **options)
                lm("warm up")
                gc.collect()
                before = rss_mib()
                errors = 0
                for number in range(6):
                    server.inject("huge", size=50_000_000)
                    try:
                        lm(f"call {number}")
                    except dx.LMError:
                        errors += 1
                gc.collect()
                growth = rss_mib() - before
                kept = max(len(entry.response.text) for entry in lm.history)
                disk = sum(path.stat().st_size for path in Path(cache_dir).iterdir()) / 2**20
            lines.append(
                f"  {label}: 6 replies of 50 MB -> {errors} errors, RSS +{growth:.0f} MiB, "
                f"history keeps at most {kept:,} chars a reply, cache files {disk:.0f} MiB"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--outages", type=float, nargs="*", default=[1.0, 10.0])
    parser.add_argument("--cooldowns", type=float, nargs="*", default=[], help="also run the outages with these")
    parser.add_argument("--skip-rates", action="store_true")
    parser.add_argument("--skip-huge", action="store_true")
    args = parser.parse_args()
    print("Outages during a 200-example evaluation (concurrency 8, 100 ms server):")
    for seconds in [0.0, *args.outages]:
        print(outage_run(seconds), flush=True)
        for cooldown in args.cooldowns if seconds else []:
            print(outage_run(seconds, cooldown), flush=True)
    if not args.skip_rates:
        print(f"Rate limits measured at the server over {args.minutes:g} minutes:")
        for line in rate_run(args.minutes):
            print(line, flush=True)
    if not args.skip_huge:
        print("Huge replies:")
        for line in huge_run():
            print(line, flush=True)


if __name__ == "__main__":
    main()
