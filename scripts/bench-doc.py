#!/usr/bin/env python3
"""Writes docs/explanation/performance.md's figures from a `make bench` JSON file, so that
no figure in the doc is typed by hand.

    scripts/bench-doc.py [--json docs/bench.json]          rewrite the doc
    scripts/bench-doc.py --check [--json docs/bench.json]  fail if the doc or
        the template's MemorySize settings differ from what the JSON says

The generated parts sit between `<!-- bench:begin -->` and `<!-- bench:end -->`,
and (the model image's figures, from docs/image.json) `<!-- image:begin -->` and
`<!-- image:end -->`; the prose around them is the doc's own. `make test` runs --check.
"""
import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs/explanation/performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
IMAGE_BEGIN, IMAGE_END = "<!-- image:begin -->", "<!-- image:end -->"
IMAGE_JSON = ROOT / "docs/image.json"
FLOOR, TLS_FLOOR, PYTHON = "floor", "tls-floor", "python-invoke-endpoint"
PUBLISHED_MS = 826


def ms(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def times(value):
    return f"{value:,.0f}×" if value >= 100 else f"{value:.2f}×"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def bench():
    """scripts/bench.py itself, for the definitions the figures are checked by."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench as module
    return module


def change(new, old):
    return f"{(new - old) / old * 100:+.0f}%"


def ideas(report):
    """Each idea's build against the main build's same binary, measured in the same run."""
    f = report["functions"]
    out = ["", "**Ideas tried for a faster start**, each its own build measured in the same run, against the "
           "main build's same binary (median ms, and the change):", ""]
    rows = []
    for label, variant in report["variants"].items():
        for name, r in variant["functions"].items():
            main = f[name]
            own = r["ownStartMs"]["median"] if "ownStartMs" in r else None
            own_main = main["ownStartMs"]["median"] if own is not None else None
            cold, cold_main = r["sizes"]["128"]["coldMs"]["median"], main["sizes"]["128"]["coldMs"]["median"]
            full, full_main = r["sizes"]["full"]["coldMs"]["median"], main["sizes"]["full"]["coldMs"]["median"]
            rows.append([label, name, f"{ms(own)} ({change(own, own_main)})" if "ownStartMs" in r else "—",
                         f"{ms(full)} ({change(full, full_main)})",
                         f"{ms(cold)} ({change(cold, cold_main)})",
                         f"{r['zipMb']:.2f} ({change(r['zipMb'], main['zipMb'])})"])
    out.append(table(["idea", "binary", "own start, full speed", "cold request, full speed",
                      "cold request, 128 MB", "zip MB"], rows))
    out += ["", "What each idea is:", ""]
    out += [f"- **{label}**: {variant['what']}" for label, variant in report["variants"].items() if variant["what"]]
    return out


def render(report):
    b = bench()
    f, sizes = report["functions"], report["sizes"]
    functions = [n for n in f if n not in (FLOOR, TLS_FLOOR, PYTHON)]
    share = report["cpuShare"]
    out = [f"Figures of {report['when']} ({report['machine']['arch']}, {report['machine']['cores']} cores, "
           f"Linux {report['machine']['kernel']}, {report['machine']['rustc']}); build: {report['build']['profile']}. "
           f"CPU share: {share['mechanism']}, quota = memory / {share['fullCoreMb']} MB of a "
           f"{share['periodUs'] // 1000} ms period; `full` is no quota. "
           f"{report['spawns']} cold starts and {report['warm']} warm invocations per function and size.",
           "",
           "**Cold request** (spawn → first answer, the TLS handshake and the first AWS call included), median ms, "
           "and × the TLS floor at the same share:",
           ""]
    rows = []
    for name in [FLOOR, TLS_FLOOR, *functions, PYTHON]:
        if name not in f:
            continue
        cells = []
        for s in sizes:
            r = f[name]["sizes"].get(s)
            mark = "" if name in (FLOOR, TLS_FLOOR, PYTHON, "invoke-endpoint") else "†"
            cells.append(f"{ms(r['coldMs']['median'])} ({times(b.goal_ratio(f, name, s))}{mark})" if r else "")
        rows.append([name, *cells])
    out.append(table(["", *[f"{s} MB" if s != "full" else "full" for s in sizes]], rows))
    out += ["", "† calls moto, a Python emulator whose own time (3–12 ms a call) is in every figure: the ratio is "
            "of what the cold start adds to the same invocation warm (cold median − warm p50), the TLS floor's "
            "likewise. invoke-endpoint calls the same model stub as the TLS floor: its ratio is as measured."]

    floor_own = f[FLOOR]["ownStartMs"]["median"]
    out += ["", "**Own start at full speed** (an event refused before any AWS call), median ms and × the floor; "
            "**warm** p50 / p99 ms (the Runtime API's own timing) at 128 MB and at the chosen size (the template's); "
            "memory and size:", ""]
    rows = []
    for name in [FLOOR, TLS_FLOOR, *functions, PYTHON]:
        if name not in f:
            continue
        r = f[name]
        own = (f"{ms(r['ownStartMs']['median'])} ({times(r['ownStartMs']['median'] / floor_own)})"
               if "ownStartMs" in r else "")
        chosen = report.get("cost", {}).get("chosenMb") or report["templateMb"]
        templ = chosen.get(name if name != PYTHON else "invoke-endpoint", 128)
        w128 = r["sizes"]["128"]["warmMs"]
        templ = templ if str(templ) in r["sizes"] else 128  # Python's sizes follow the template at its run
        wt = r["sizes"][str(templ)]["warmMs"]
        rss = max(s["peakRssMb"] for s in r["sizes"].values())
        rows.append([name, own, f"{ms(w128['p50'])} / {ms(w128['p99'])}",
                     f"{ms(wt['p50'])} / {ms(wt['p99'])} ({templ} MB)", f"{rss:.1f}",
                     f"{r['zipMb']:.2f}" if "zipMb" in r else "—"])
    out.append(table(["", "own start", "warm 128 MB", "warm, chosen size", "peak RSS MB", "zip MB"], rows))

    if "cost" in report:
        c = report["cost"]
        out += ["", "**Memory by cost:** GB-seconds per use at each size (a pipeline function: one cold "
                "invocation and the run's others warm; invoke-endpoint: one warm prediction, with one cold start "
                "per thousand). The chosen size is the cheapest at which the cold request, and for invoke-endpoint, "
                "which serves back-to-back traffic, the warm p99, is not bound by the CPU share: within 1.5× (or "
                "1 ms) of its figure at 1,769 MB, a whole core. "
                f"Prices assumed: {c['prices']['assumed']}.", ""]
        rows = []
        for name in functions:
            cells = []
            for mb, row in c["perFunction"][name].items():
                cell = f"{row['gbSecondsPerUse']:.5f}" + (" ✗" if row["shareBound"] else "")
                cells.append(f"**{cell}**" if int(mb) == c["chosenMb"][name] else cell)
            uses = c["runInvocations"].get(name, "per prediction")
            rows.append([name, str(uses), *cells, f"{c['chosenMb'][name]} MB"])
        mbs = list(c["perFunction"][functions[0]].keys())
        out.append(table(["", "uses per run", *[f"{mb} MB" for mb in mbs], "chosen"], rows))
        out += ["", f"At the chosen sizes: **${c['usdPerThousandRuns']:.4f} per 1,000 pipeline runs** (Lambda only: "
                "SageMaker's training, transform and endpoint are billed apart and dwarf it) and "
                f"**${c['usdPerMillionPredictions']:.2f} per million predictions** (Lambda only, without the "
                "model's own latency, which invoke-endpoint waits for and is billed for, and without API Gateway). "
                "✗: bound by the CPU share at that size."]

    if PYTHON in f and "invoke-endpoint" in f:
        rust = f["invoke-endpoint"]["sizes"]["128"]["coldMs"]["median"]
        python = f[PYTHON]["sizes"]["128"]["coldMs"]["median"]
        out += ["", f"At 128 MB's share, invoke-endpoint's cold request took **{ms(rust)} ms**, the Python/boto3 "
                f"equivalent's **{ms(python)} ms** ({python / rust:,.0f}× longer). The published figure for a Rust "
                f"function's first SDK call at 128 MB was {PUBLISHED_MS} ms, 745 ms of it the TLS handshake; "
                "that was on Lambda's own hardware against a real AWS endpoint, this is a shared x86_64 core "
                "against local stand-ins, so the two are not the same measurement."]
    if report.get("variants"):
        out += ideas(report)
    if report.get("targets"):
        out += ["", "Targets, as the bench checked them:", ""]
        out += [f"- {line}" for line in report["targets"]]
    return "\n".join(out) + "\n"


def render_image(image):
    """The model image's figures (scripts/image --measure writes docs/image.json)."""
    p = image["serve_to_ping_ms"]
    return "\n".join([
        table(["the model image", "figure"], [
            ["size (runtime stage: one static binary)", f"{image['image_bytes'] / 1e6:.1f} MB ({image['image_bytes']:,} bytes)"],
            [f"`serve` to the first 200 on `/ping`, median of {p['runs']}", f"{p['median']:,.0f} ms (min {p['min']:,.0f}, max {p['max']:,.0f})"],
        ]),
        "",
        f"Measured by {image['how']}.",
    ]) + "\n"


def section(text, begin, end, body):
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"bench-doc: {DOC.relative_to(ROOT)} has no {begin} … {end} section")
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", text)


def template_mismatches(report):
    if "cost" not in report:
        return []
    return [f"{name}: template.yaml has {report['templateMb'][name]} MB, the bench chose {mb} MB"
            for name, mb in report["cost"]["chosenMb"].items() if report["templateMb"].get(name) != mb]


def template_memory():
    return bench().template_memory()  # the bench's own reader: one definition


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="docs/bench.json")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    report = json.loads((ROOT / args.json).read_text())
    text = DOC.read_text()
    wanted = section(text, BEGIN, END, render(report))
    wanted = section(wanted, IMAGE_BEGIN, IMAGE_END, render_image(json.loads(IMAGE_JSON.read_text())))
    if not args.check:
        DOC.write_text(wanted)
        print(f"bench-doc: wrote {DOC.relative_to(ROOT)} from {args.json}")
        return
    problems = []
    if wanted != text:
        problems.append(f"{DOC.relative_to(ROOT)}'s figures are not what {args.json} says; "
                        "run scripts/bench-doc.py (never type them)")
    report["templateMb"] = template_memory()
    problems += template_mismatches(report)
    if problems:
        sys.exit("bench-doc: " + "\n  ".join(problems))
    print(f"bench-doc: {DOC.relative_to(ROOT)} and template.yaml's memory settings match {args.json}")


if __name__ == "__main__":
    main()
