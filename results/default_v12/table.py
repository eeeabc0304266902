"""Issue 18's per-task greedy table for a v12 variant against v9 (the shipped default): 50 trials on
init states 0-49 of each LIBERO-Object task, paired state by state (exact McNemar). Runs not done yet
print as '-', and the mean is then over the tasks measured.

    python results/default_v12/table.py [NAME]        # from the repository root; NAME default desc8
"""
import json
import sys
from pathlib import Path

R = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(R / "reward_fix"))
from compare_task4 import mcnemar  # noqa: E402  (one copy of the test)


def trials(folder):
    """Per-state 0/1 outcomes of the 50-trial greedy evaluation in results/<folder>, or None."""
    f = R / folder / "eval.json"
    if not f.exists():
        return None
    d = json.load(open(f))
    assert d["trials"] == 50 and d.get("decoding", "greedy") == "greedy", f
    return d["per_trial"]


name = sys.argv[1] if len(sys.argv) > 1 else "desc8"
print(f"| task | v9 | {name} | gained / lost | McNemar p |\n|---|---|---|---|---|")
old_sum = new_sum = n = 0
for t in range(1, 11):
    old = trials("default_v9/w192_task4_greedy50" if t == 4 else f"default_v9/table_w192/task{t}")
    new = trials(f"default_v12/{name}_task{t}_greedy50")
    if new is None:
        print(f"| {t} | {sum(old)}/50 | - | | |")
        continue
    _, _, gained, lost, p = mcnemar(new, old)
    print(f"| {t} | {sum(old)}/50 | {sum(new)}/50 | {gained} / {lost} | {p:.2g} |")
    old_sum, new_sum, n = old_sum + sum(old), new_sum + sum(new), n + 1
print(f"| mean over {n} tasks | {2 * old_sum / n:.1f}% | {2 * new_sum / n:.1f}% | | |")
