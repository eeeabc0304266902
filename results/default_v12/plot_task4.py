"""Issue 18, part 3: the Task 4 learning curves of section 9 in one figure (Fig. 3 style), per config.

Left: greedy success on the 16 curve states (`--eval-every 10`) at episodes 0/10/20/30, mean over the
seeds found, one thin line per seed. Right: greedy success on 50 states before training
(desc8_task4_greedy50) and after 30 episodes, mean +- std over seeds. Every number comes from the
folders' eval.jsonl by compare_task4.py's evals(), as compare_greedy.py's table does (the last 50-trial
greedy record at the given episode), so the figure and section 9's table cannot disagree.

    python results/default_v12/plot_task4.py        # from the repository root; writes task4_curves.png here
"""
import glob
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(RESULTS, "reward_fix"))
from compare_task4 import evals  # noqa: E402  (one rule for picking an evaluation)
CONFIGS = [("table3", "Table 3's alphas (a1 0.35, a2 0.65)"), ("a1_0", "without S (a1 = 0)"),
           ("a2_0", "without T (a2 = 0)")]


def greedy50(folder, episode):
    """The success rate of the last 50-trial greedy evaluation after `episode` episodes, or None."""
    e = evals(folder).get((episode, "greedy"))
    return None if e is None else e["success_rate"]


before = greedy50(os.path.join(HERE, "desc8_task4_greedy50"), 0)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
for i, (name, label) in enumerate(CONFIGS):
    final = {f: greedy50(f, 30) for f in sorted(glob.glob(os.path.join(RESULTS, f"task4_v12_lr1e-5_{name}_seed[0-9]")))}
    runs = [f for f, rate in final.items() if rate is not None]              # finished runs only
    if not runs:
        continue
    color = f"C{i}"
    curves = [{ep: r["success_rate"] for (ep, dec), r in evals(f, trials=16).items() if dec == "greedy"}
              for f in runs]
    eps = sorted(set.intersection(*[set(c) for c in curves]))
    for c in curves:
        ax.plot(eps, [100 * c[e] for e in eps], color=color, alpha=0.25, lw=1)
    mean = [100 * np.mean([c[e] for c in curves]) for e in eps]
    ax.plot(eps, mean, "o-", color=color, lw=2, label=f"{label}, {len(runs)} seeds")
    after = [100 * final[f] for f in runs]
    bx.errorbar([i], [np.mean(after)], yerr=[np.std(after, ddof=1) if len(after) > 1 else 0],
                fmt="o", color=color, capsize=4)
    bx.plot(i + 0.1 * (np.arange(len(after)) - (len(after) - 1) / 2), after, "x", color=color, alpha=0.6)
ax.set(xlabel="TGRPO episode (lr 1e-5, M = 8)", ylabel="greedy success, 16 states (%)",
       title="Task 4, v12 default: curve during training", ylim=(40, 100))
ax.legend(fontsize=8, loc="lower right")
bx.axhline(100 * before, color="k", ls="--", lw=1, label=f"before (SFT): {100 * before:.0f}%")
bx.set(xticks=range(len(CONFIGS)), xticklabels=["Table 3", "without S", "without T"],
       ylabel="greedy success, 50 states (%)", title="after 30 episodes (mean +- std, x = seed)",
       ylim=(40, 80), xlim=(-0.5, len(CONFIGS) - 0.5))
bx.legend(fontsize=8, loc="lower right")
fig.tight_layout()
out = os.path.join(HERE, "task4_curves.png")
fig.savefig(out, dpi=110)
print("wrote", out)
