"""Coverage-guided fuzzing (atheris, libFuzzer) of the entry points that take bytes off the
wire: the BinaryFILE framer, the ITCH 5.0 decoder and boundary search, the MoldUDP64
``accept`` kernel, and the book kernels. Targets live in bench/fuzz/ (``fuzz_NAME.py``: a
``setup()`` and a ``one_input(data)`` that raises ``AssertionError`` on a broken invariant).

    .venv/bin/python bench/fuzz.py --target framer --runs 1000000 [--seed 1] [--no-jit]
    .venv/bin/python bench/fuzz.py --target all --runs 1000000      # each in its own process

Each target is compiled and warmed before the clock starts; the rate counts inputs from the
first to the last. Default (jit): the compiled kernels run as they do in production, and
atheris sees coverage of the plain-Python code only (the targets, the input builders and
``ItchHandler``), so over the kernels it is a mutation fuzzer without guidance. ``--no-jit``
runs the kernels as plain Python (NUMBA_DISABLE_JIT=1) and instruments all of tickpath:
coverage-guided over the kernels' own source, some hundred times slower. A crash or a broken
invariant stops the run with libFuzzer's report and the input saved as ``crash-*``.

Prints one line per target and writes out/bench/fuzz_NAME.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FUZZ = HERE / "fuzz"
OUT = HERE.parent / "out" / "bench"
TARGETS = ("framer", "decoder", "mold", "book")
#: plain-Python functions of tickpath instrumented in jit mode (compiled code cannot be)
PLAIN = (("tickpath.feed.itch.handler", "ItchHandler",
          ("on_blocks", "_report", "_resync", "_inconsistent", "_lose")),
         ("tickpath.feed.itch.handler", "LostRange", ("messages",)),
         ("tickpath.codec.itch50.message", None, ("fields", "_lookup")))


def _instrument_plain(atheris) -> None:
    for module, cls, names in PLAIN:
        owner = importlib.import_module(module)
        if cls is not None:
            owner = getattr(owner, cls)
        for n in names:
            f = getattr(owner, n)
            if isinstance(f, property):
                atheris.instrument_func(f.fget)
            else:
                atheris.instrument_func(f)


def run_one(name: str, runs: int, seed: int, no_jit: bool, max_len: int) -> None:
    """Fuzz one target in this process; exits after ``runs`` inputs (atheris never returns)."""
    if no_jit:
        os.environ["NUMBA_DISABLE_JIT"] = "1"
    import atheris

    sys.path.insert(0, str(FUZZ))
    if no_jit:
        with atheris.instrument_imports(include=["streams", "tickpath", f"fuzz_{name}"]):
            mod = importlib.import_module(f"fuzz_{name}")
        one = mod.one_input
    else:
        import tickpath.feed.itch  # noqa: F401  (imported, so not instrumented below)

        with atheris.instrument_imports(include=["streams"]):
            mod = importlib.import_module(f"fuzz_{name}")
        _instrument_plain(atheris)
        one = atheris.instrument_func(mod.one_input)
    mod.setup()  # compile and warm outside the clock
    state = {"n": 0, "t0": 0.0}

    def test_one_input(data: bytes) -> None:
        if state["n"] == 0:
            state["t0"] = time.perf_counter()
        one(data)
        state["n"] += 1
        if state["n"] == runs:
            seconds = time.perf_counter() - state["t0"]
            result = {
                "target": name, "inputs": runs, "seconds": seconds,
                "inputs_per_s": runs / seconds if seconds > 0 else 0.0,
                "mode": "no-jit (kernels as Python, instrumented)" if no_jit else "jit",
                "seed": seed, "max_len": max_len, "fuzzer": f"atheris {_version()}",
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
                "python": platform.python_version(),
            }
            if name == "mold":
                result["inputs_with_sequence_at_or_above_2**62"] = mod.WRAPS[0]
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / f"fuzz_{name}{'_nojit' if no_jit else ''}.json").write_text(
                json.dumps(result, indent=2))
            print(json.dumps(result), flush=True)
            sys.stdout.flush()
            os._exit(0)  # libFuzzer would otherwise go on to its own -runs count

    atheris.Setup([sys.argv[0], f"-runs={runs + 1}", f"-seed={seed}", f"-max_len={max_len}",
                   "-print_final_stats=0"], test_one_input)
    atheris.Fuzz()


def _version() -> str:
    from importlib.metadata import version

    return version("atheris")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=(*TARGETS, "all"), required=True)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--no-jit", action="store_true",
                    help="kernels as plain Python, instrumented: coverage-guided over them")
    args = ap.parse_args()
    if args.target != "all":
        run_one(args.target, args.runs, args.seed, args.no_jit, args.max_len)
        return
    failed = []
    for name in TARGETS:
        cmd = [sys.executable, __file__, "--target", name, "--runs", str(args.runs),
               "--seed", str(args.seed), "--max-len", str(args.max_len)]
        cmd += ["--no-jit"] if args.no_jit else []
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in r.stdout.splitlines() if x.startswith("{")), None)
        if r.returncode or line is None:
            failed.append(name)
            print(f"{name}: FAILED (exit {r.returncode})\n{r.stderr[-3000:]}", file=sys.stderr)
            continue
        res = json.loads(line)
        print(f"{name:8} {res['inputs']:>10,} inputs in {res['seconds']:7.1f} s: "
              f"{res['inputs_per_s']:>9,.0f} inputs/s ({res['mode']})")
    if failed:
        sys.exit(f"fuzzing found problems in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
