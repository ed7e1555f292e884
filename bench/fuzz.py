"""Fuzz every parser of client input for minutes: the targets of tests/property/fuzz_targets.py
(sniff and probe, SVG sanitizer, filter language, RESIZING_CONFIG, derivation parameters,
import manifest and archive, JSON documents), from random seeds, in rounds of --batch examples
per target until --minutes have passed.

    .venv/bin/python bench/fuzz.py --minutes 5
    .venv/bin/python bench/fuzz.py --minutes 1 --target svg-sanitizer --seed 1234

Each round prints its target and seed; a finding (an exception that is not a 4xx refusal) is
printed with Hypothesis' shrunk example and the seed that replays it, and fuzzing goes on. The
exit status is the number of findings (0: none).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.property.fuzz_targets import TARGETS, resources, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to fuzz")
    parser.add_argument("--batch", type=int, default=500, help="examples per round")
    parser.add_argument("--seed", type=int, default=None, help="first seed (random if not set)")
    parser.add_argument("--target", action="append", choices=[t.name for t in TARGETS],
                        help="fuzz only these targets (repeatable)")
    args = parser.parse_args()
    targets = [t for t in TARGETS if not args.target or t.name in args.target]
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"fuzz: {len(targets)} targets for {args.minutes:g} min, first seed {seed}")
    deadline = time.monotonic() + args.minutes * 60
    findings: list[str] = []
    rounds = 0
    with resources() as res:
        while time.monotonic() < deadline:
            target = targets[rounds % len(targets)]
            started = time.monotonic()
            try:
                run(target, res, max_examples=args.batch, seed=seed)
                outcome = "ok"
            except Exception:
                outcome = "FINDING"
                findings.append(f"{target.name} seed {seed}:\n{traceback.format_exc()}")
                print(findings[-1], flush=True)
            print(f"  {target.name:22} seed {seed:>10} {args.batch} examples "
                  f"{time.monotonic() - started:6.1f} s {outcome}", flush=True)
            rounds += 1
            seed = (seed + 1) % 2**32
    print(f"fuzz: {rounds} rounds, {len(findings)} findings")
    return len(findings)


if __name__ == "__main__":
    sys.exit(main())
