#!/usr/bin/env python3
"""Renders a shoal timeline trace (Chrome trace-event JSON, as written by
`shoal timeline -o FILE` or `shoal launch --timeline -o FILE`) to a PNG.

One row per thread lane that holds calls or submits, grouped by process and
named like the trace's tracks ("AsyncActor pid=N / event loop"); calls are
bars labelled with their method, the intervals they spent suspended are
hatched inside them, and an arrow runs from each submit to the start of its
call. The time axis covers the calls (with a margin) unless --all is given;
--zoom K adds a panel from the K-th call on.

    python3 scripts/render_timeline.py trace.json docs/timeline.png

Needs python3-matplotlib (scripts/deps.sh --render installs it).
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", help="trace JSON")
    ap.add_argument("png", help="PNG to write")
    ap.add_argument("--all", action="store_true", help="the whole trace, not only the calls")
    ap.add_argument("--title", default="", help="title above the picture")
    ap.add_argument("--zoom", type=int, default=0, metavar="K",
                    help="add a second panel from the start of the K-th call to the end")
    args = ap.parse_args()
    with open(args.trace) as f:
        trace = json.load(f)
    events = trace.get("traceEvents", [])

    process_names, thread_names, process_order = {}, {}, {}
    for e in events:
        if e.get("ph") != "M":
            continue
        if e["name"] == "process_name":
            process_names[e["pid"]] = e["args"]["name"]
        elif e["name"] == "thread_name":
            thread_names[(e["pid"], e["tid"])] = e["args"]["name"]
        elif e["name"] == "process_sort_index":
            process_order[e["pid"]] = e["args"]["sort_index"]

    slices = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("call", "submit", "suspend")]
    calls = [e for e in slices if e["cat"] == "call"]
    if not calls:
        sys.exit(f"{args.trace}: no calls to draw")
    instants = [e for e in events if e.get("ph") == "i"]

    rows = sorted({(e["pid"], e["tid"]) for e in slices},
                  key=lambda k: (process_order.get(k[0], 1 << 30), k[1]))
    row_of = {k: i for i, k in enumerate(rows)}
    calls.sort(key=lambda e: e["ts"])
    if args.all:
        lo = min(e["ts"] for e in slices + instants)
    else:
        lo = calls[0]["ts"]
    hi = max(e["ts"] + e.get("dur", 0) for e in (slices + instants if args.all else calls))
    windows = [(lo, hi, "")]
    if args.zoom:
        k = min(max(args.zoom, 1), len(calls)) - 1
        windows.append((calls[k]["ts"], hi, f"zoomed from the start of call {k + 1}"))

    colors = plt.get_cmap("tab10")
    method_color = {}
    for e in calls:
        method_color.setdefault(e["name"], colors(len(method_color) % 10))
    submit_at = {e["bind_id"]: e for e in slices if e["cat"] == "submit" and "bind_id" in e}

    fig_h = (0.9 + 0.5 * len(rows)) * len(windows) + 0.4
    fig, axes = plt.subplots(len(windows), 1, figsize=(12, fig_h), dpi=110, squeeze=False)
    for ax, (w_lo, w_hi, w_title) in zip(axes[:, 0], windows):
        draw(ax, w_lo, w_hi, rows, row_of, slices, calls, instants, submit_at, method_color,
             process_names, thread_names)
        if w_title:
            ax.set_title(w_title, fontsize=9, loc="left")
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"{args.png}: {len(calls)} calls on {len(rows)} rows")


def draw(ax, lo, hi, rows, row_of, slices, calls, instants, submit_at, method_color,
         process_names, thread_names):
    span = max(hi - lo, 1.0)
    lo -= span * 0.04
    hi += span * 0.04
    # The flows first, under the bars; a submit before the window starts at its edge.
    for c in calls:
        s = submit_at.get(c.get("bind_id"))
        if s is None or not (lo <= c["ts"] <= hi):
            continue
        y0, y1 = row_of[(s["pid"], s["tid"])], row_of[(c["pid"], c["tid"])]
        x0 = max(s["ts"], lo)
        ax.add_patch(FancyArrowPatch((x0, y0), (c["ts"], y1), arrowstyle="-|>",
                                     mutation_scale=8, color="0.55", lw=0.7, zorder=1))
    for e in slices:
        y = row_of[(e["pid"], e["tid"])]
        if e["cat"] == "call":
            ok = e["args"].get("outcome") == "ok"
            ax.broken_barh([(e["ts"], max(e["dur"], span * 0.003))], (y - 0.35, 0.7),
                           facecolors=method_color[e["name"]] if ok else "tab:red",
                           edgecolors="black", linewidth=0.6, zorder=2)
        elif e["cat"] == "suspend":
            ax.broken_barh([(e["ts"], e["dur"])], (y - 0.35, 0.7), facecolors="white",
                           edgecolors="black", hatch="///", linewidth=0.4, alpha=0.8, zorder=3)
        elif lo <= e["ts"] <= hi:
            ax.plot([e["ts"]], [y], marker="|", markersize=12, color="black", zorder=2)
    for e in instants:
        if not (lo <= e["ts"] <= hi):
            continue
        rows_of_pid = [row_of[k] for k in rows if k[0] == e["pid"]]
        if rows_of_pid:
            ax.plot([e["ts"]], [min(rows_of_pid) - 0.45], marker="v", color="tab:purple", zorder=4)
            ax.annotate(e["name"], (e["ts"], min(rows_of_pid) - 0.45), fontsize=7,
                        xytext=(3, 2), textcoords="offset points", color="tab:purple")
    labels = []
    for pid, tid in rows:
        labels.append(f"{process_names.get(pid, f'pid={pid}')}\n{thread_names.get((pid, tid), tid)}")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.9)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("time since the session started (µs)", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, fc=c, ec="black") for c in method_color.values()]
    names = list(method_color)
    handles.append(plt.Rectangle((0, 0), 1, 1, fc="white", ec="black", hatch="///"))
    names.append("suspended (co_await)")
    ax.legend(handles, names, loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(axis="x", color="0.9")
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)


if __name__ == "__main__":
    main()
