"""Two 50-trial greedy evaluations of Task 4 side by side, state by state (exact McNemar): for issue 18's
budget probes, whose 'after' is not at episode 30 and so not in compare_greedy.py's table.

    python results/default_v12/paired.py FOLDER@EPISODE FOLDER@EPISODE [...]   # from the repository root
    python results/default_v12/paired.py default_v12/desc8_task4_greedy50@0 \
        task4_v12_lr1e-5_table3_seed0@30 task4_v12_lr1e-5_table3_ep60_seed0@60

Folders are under results/. Every later evaluation is compared with the first and with the one before it.
"""
import sys
from pathlib import Path

R = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(R / "reward_fix"))
from compare_task4 import evals, mcnemar, two_proportion_p  # noqa: E402  (one copy of the tests)


def greedy50(folder, episode):
    """The last greedy 50-trial evaluation of results/<folder> at `episode` (compare_greedy.py's rule)."""
    f = R / folder / "eval.jsonl"
    if not f.exists():
        sys.exit(f"error: {f} not found")
    e = evals(folder).get((episode, "greedy"))
    if e is None:
        sys.exit(f"error: no greedy 50-trial evaluation at episode {episode} in {f}")
    return e


if len(sys.argv) < 3 or not all("@" in a for a in sys.argv[1:]):
    sys.exit("usage: paired.py FOLDER@EPISODE FOLDER@EPISODE [...]")
runs = []
for arg in sys.argv[1:]:
    folder, episode = arg.rsplit("@", 1)
    runs.append((arg, greedy50(folder, int(episode))))
for i, (name, e) in enumerate(runs):
    print(f"{name}: {e['successes']}/50")
    for ref, r in [] if i == 0 else [runs[0]] if i == 1 else [runs[0], runs[i - 1]]:
        both, neither, only_a, only_b, p = mcnemar(r["per_trial"], e["per_trial"])
        print(f"  against {ref}: both {both}, neither {neither}, only there {only_a}, only here {only_b}, "
              f"exact McNemar p = {p:.2g}; two-proportion p = {two_proportion_p(r['successes'], e['successes'], 50):.2g}")
