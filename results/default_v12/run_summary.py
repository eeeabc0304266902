"""The per-run figures quoted in section 9 of results/README.md, from one learning run's folder:
KL to pi_ref (mean of the last 5 episodes), the range of the sampled policy's entropy, the 16-trial
curve, the final 50 greedy trials, episode and evaluation wall times, and stages.txt.

    python results/default_v12/run_summary.py results/task4_v12_lr1e-5_a1_0_seed0 [...]   # from the repository root
"""
import json
import sys
from pathlib import Path

if len(sys.argv) < 2:
    sys.exit("usage: run_summary.py RUN_FOLDER [RUN_FOLDER ...]")
for folder in map(Path, sys.argv[1:]):
    if not (folder / "metrics.jsonl").exists():
        sys.exit(f"error: {folder}/metrics.jsonl not found")
    eps = [json.loads(x) for x in open(folder / "metrics.jsonl")]
    evals = [json.loads(x) for x in open(folder / "eval.jsonl")] if (folder / "eval.jsonl").exists() else []
    last5 = eps[-5:]
    print(f"== {folder}: {len(eps)} episodes")
    print("KL to pi_ref, mean of last 5 episodes: %.2g" % (sum(e["kl"] for e in last5) / len(last5)))
    print("entropy (nats, 7 tokens): %.2f-%.2f" % (min(e["entropy"] for e in eps), max(e["entropy"] for e in eps)))
    print("sampled group successes: %d / %d" % (sum(e["successes"] for e in eps), sum(e["group"] for e in eps)))
    t = [e["time_episode"] for e in eps]
    print("episodes: %.0f s in all, %.0f s each" % (sum(t), sum(t) / len(t)))
    curve = [e for e in evals if e["trials"] == 16]
    print("curve (16 greedy trials): " + " / ".join(f"ep {e['episode']}: {e['successes']}" for e in curve)
          + " | seconds %.0f-%.0f" % (min(e["seconds"] for e in curve), max(e["seconds"] for e in curve)) if curve else "no curve")
    for e in (e for e in evals if e["trials"] == 50):
        print(f"greedy 50 after {e['episode']} episodes: {e['successes']}/50 ({e['seconds']:.0f} s)")
    if (folder / "stages.txt").exists():
        print((folder / "stages.txt").read_text().strip())
