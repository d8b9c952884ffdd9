"""How long `import dspex_lab` takes in a fresh interpreter, and what it pulls in.

Run: .venv/bin/python benchmarks/bench_import.py [runs]
Prints the median over fresh processes of: the bare import, and the import plus
the first use of `dx.Predict` (which loads the kernel: signatures, adapters, LM base).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

HEAVY = ("pandas", "plotly", "ipywidgets", "httpx", "aiohttp", "pydantic", "llama_cpp", "numpy", "pyarrow")

PROBE = """
import sys, time
t0 = time.perf_counter()
import dspex_lab as dx
t1 = time.perf_counter()
dx.Predict
t2 = time.perf_counter()
heavy = [m for m in {heavy!r} if m in sys.modules]
print(t1 - t0, t2 - t0, ",".join(heavy) or "-")
"""


def measure(runs: int) -> None:
    bare, first_use, heavy = [], [], set()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, check=True
        ).stdout.split()
        bare.append(float(out[0]))
        first_use.append(float(out[1]))
        heavy.update(m for m in out[2].split(",") if m != "-")
    print(f"import dspex_lab            median {statistics.median(bare) * 1e3:7.1f} ms  (target <= 300 ms)")
    print(f"import + first dx.Predict   median {statistics.median(first_use) * 1e3:7.1f} ms")
    print(f"heavy modules imported by the first use: {sorted(heavy) or 'none'}")


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
