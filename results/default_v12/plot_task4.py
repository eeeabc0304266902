"""Issue 18, part 3: the Task 4 learning curves of section 9 in one figure (Fig. 3 style), per config.

Left: greedy success on the 16 curve states (`--eval-every 10`, eval.jsonl) at episodes 0/10/20/30,
mean over the seeds found, one thin line per seed. Right: greedy success on 50 states before training
(desc8_task4_greedy50) and after 30 episodes (each run's eval.json), mean +- std over seeds.

    python results/default_v12/plot_task4.py        # from the repository root; writes task4_curves.png here
"""
import glob
import json
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
CONFIGS = [("table3", "Table 3's alphas (a1 0.35, a2 0.65)"), ("a1_0", "without S (a1 = 0)"),
           ("a2_0", "without T (a2 = 0)")]


def curve(folder):
    """{episode: success rate} from the 16-trial evaluations of one run."""
    rows = [json.loads(line) for line in open(os.path.join(folder, "eval.jsonl"))]
    return {r["episode"]: r["success_rate"] for r in rows if r["trials"] == 16}


before = json.load(open(os.path.join(HERE, "desc8_task4_greedy50", "eval.json")))["success_rate"]
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
for i, (name, label) in enumerate(CONFIGS):
    folders = sorted(glob.glob(os.path.join(RESULTS, f"task4_v12_lr1e-5_{name}_seed[0-9]")))
    folders = [f for f in folders if os.path.exists(os.path.join(f, "eval.json"))]
    if not folders:
        continue
    color = f"C{i}"
    curves = [curve(f) for f in folders]
    eps = sorted(set.intersection(*[set(c) for c in curves]))
    for c in curves:
        ax.plot(eps, [100 * c[e] for e in eps], color=color, alpha=0.25, lw=1)
    mean = [100 * np.mean([c[e] for c in curves]) for e in eps]
    ax.plot(eps, mean, "o-", color=color, lw=2, label=f"{label}, {len(folders)} seeds")
    after = [100 * json.load(open(os.path.join(f, "eval.json")))["success_rate"] for f in folders]
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
