"""Two 50-trial greedy evaluations of Task 4 side by side, state by state (exact McNemar): for issue 18's
budget probes, whose 'after' is not at episode 30 and so not in compare_greedy.py's table.

    python results/default_v12/paired.py FOLDER@EPISODE FOLDER@EPISODE [...]   # from the repository root
    python results/default_v12/paired.py default_v12/desc8_task4_greedy50@0 \
        task4_v12_lr1e-5_table3_seed0@30 task4_v12_lr1e-5_table3_ep60_seed0@60

Folders are under results/. Every later evaluation is compared with the first and with the one before it.
"""
import json
import sys
from pathlib import Path

R = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(R / "reward_fix"))
from compare_task4 import mcnemar, two_proportion_p  # noqa: E402  (one copy of the tests)


def greedy50(folder, episode):
    """compare_greedy.py's rule: the last greedy 50-trial line of results/<folder>/eval.jsonl at `episode`."""
    f = R / folder / "eval.jsonl"
    if not f.exists():
        sys.exit(f"error: {f} not found")
    hits = [e for e in map(json.loads, open(f))
            if e["trials"] == 50 and e["episode"] == episode and e.get("decoding", "greedy") == "greedy"]
    if not hits:
        sys.exit(f"error: no greedy 50-trial evaluation at episode {episode} in {f}")
    return hits[-1]


if len(sys.argv) < 3 or not all("@" in a for a in sys.argv[1:]):
    sys.exit("usage: paired.py FOLDER@EPISODE FOLDER@EPISODE [...]")
runs = []
for arg in sys.argv[1:]:
    folder, episode = arg.rsplit("@", 1)
    runs.append((arg, greedy50(folder, int(episode))))
for i, (name, e) in enumerate(runs):
    print(f"{name}: {e['successes']}/50")
    for ref, r in {runs[0][0]: runs[0][1], runs[i - 1][0]: runs[i - 1][1]}.items() if i else ():
        both, neither, only_a, only_b, p = mcnemar(r["per_trial"], e["per_trial"])
        print(f"  against {ref}: both {both}, neither {neither}, only there {only_a}, only here {only_b}, "
              f"exact McNemar p = {p:.2g}; two-proportion p = {two_proportion_p(r['successes'], e['successes'], 50):.2g}")
