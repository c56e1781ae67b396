"""The summary of scripts/measure-enter-gap's trials: successes per Claude Code version, condition
and gap, the smallest reliable gap, the failure modes, and successes by the time from the text
showing in the box to the Enter. Pure functions over the results the script collects (and
writes with --json): {"versions", "gaps", "conditions", "trials": [{"version", "condition",
"gap_ms", "ok", "mode", "retry"?, "shown_ms"?, "enter_at_ms"?}, ...]}. Standard library only.
"""

from __future__ import annotations

from typing import Any

INTERCOMM_ENTER_GAP_MS = 30  # src/fleet/wake.rs ENTER_GAP, for the summary


def threshold(cells: dict[int, tuple[int, int]]) -> int | None:
    """Smallest gap from which every larger measured gap succeeded in every trial."""
    best = None
    for gap in sorted(cells, reverse=True):
        ok, n = cells[gap]
        if n == 0 or ok != n:
            break
        best = gap
    return best


def summarize(results: dict[str, Any]) -> str:
    versions = results["versions"]
    gaps = results["gaps"]
    conds = results["conditions"]
    out = []
    head = "| version | condition | " + " | ".join(f"{g} ms" for g in gaps) + " | reliable from |"
    out.append(head)
    out.append("|" + "---|" * (len(gaps) + 3))
    for v in versions:
        for c in conds:
            cells = cell_counts(results, v, c)
            if not cells:
                continue
            row = [f"{ok}/{n}" if n else "-" for ok, n in (cells.get(g, (0, 0)) for g in gaps)]
            t = threshold(cells)
            out.append(f"| {v} | {c} | " + " | ".join(row) + f" | {'-' if t is None else f'{t} ms'} |")
    out.append("")
    failures: dict[tuple[str, str], dict[str, int]] = {}
    for r in results["trials"]:
        if not r["ok"]:
            d = failures.setdefault((r["version"], r["condition"]), {})
            d[r["mode"]] = d.get(r["mode"], 0) + 1
    if failures:
        out.append(
            "Failure modes: "
            + "; ".join(
                f"{v} {c}: " + ", ".join(f"{m} {n}" for m, n in sorted(d.items()))
                for (v, c), d in sorted(failures.items())
            )
        )
        retries: dict[str, int] = {}
        for r in results["trials"]:
            if "retry" in r:
                retries[r["retry"]] = retries.get(r["retry"], 0) + 1
        if retries:
            out.append(
                "A second Enter after a swallowed one (as the wake retries): "
                + ", ".join(f"{what} {n}" for what, n in sorted(retries.items()))
            )
    after = after_shown(results)
    if after:
        out.append("")
        out.append("Successes by time from the text showing in the box to the Enter:")
        out.append("")
        out.append("| version | " + " | ".join(AFTER_SHOWN_BUCKETS) + " |")
        out.append("|" + "---|" * (len(AFTER_SHOWN_BUCKETS) + 1))
        for v in versions:
            cells = after.get(v, {})
            row = [f"{cells[b][0]}/{cells[b][1]}" if b in cells else "-" for b in AFTER_SHOWN_BUCKETS]
            out.append(f"| {v} | " + " | ".join(row) + " |")
        out.append("")
    for v in versions:
        ts = [threshold(cell_counts(results, v, c)) for c in conds if cell_counts(results, v, c)]
        if ts:
            both = "-" if None in ts else f"{max(ts)} ms"
            out.append(f"- {v}: every gap from {both} up succeeded ({' and '.join(conds)})")
    for v in versions:
        for c in conds:
            cells = cell_counts(results, v, c)
            if cells and INTERCOMM_ENTER_GAP_MS in cells:
                ok, n = cells[INTERCOMM_ENTER_GAP_MS]
                t = threshold(cells)
                verdict = "reliable" if t is not None and t <= INTERCOMM_ENTER_GAP_MS else "NOT reliable"
                out.append(f"- {v} {c}: ENTER_GAP {INTERCOMM_ENTER_GAP_MS} ms {ok}/{n}, {verdict}")
    return "\n".join(out)


AFTER_SHOWN_BUCKETS = ["<1 ms", "1-5 ms", "5-20 ms", ">=20 ms"]


def after_shown(results: dict[str, Any]) -> dict[str, dict[str, tuple[int, int]]]:
    """version -> bucket of (Enter time - time the text showed) -> (ok, n)."""
    out: dict[str, dict[str, list[int]]] = {}
    for r in results["trials"]:
        if "shown_ms" not in r or "enter_at_ms" not in r:
            continue
        d = r["enter_at_ms"] - r["shown_ms"]
        bucket = AFTER_SHOWN_BUCKETS[0 if d < 1 else 1 if d < 5 else 2 if d < 20 else 3]
        c = out.setdefault(r["version"], {}).setdefault(bucket, [0, 0])
        c[0] += 1 if r["ok"] else 0
        c[1] += 1
    return {v: {b: (c[0], c[1]) for b, c in d.items()} for v, d in out.items()}


def cell_counts(results: dict[str, Any], version: str, cond: str) -> dict[int, tuple[int, int]]:
    cells: dict[int, list[int]] = {}
    for r in results["trials"]:
        if r["version"] == version and r["condition"] == cond:
            c = cells.setdefault(r["gap_ms"], [0, 0])
            c[0] += 1 if r["ok"] else 0
            c[1] += 1
    return {g: (c[0], c[1]) for g, c in cells.items()}
