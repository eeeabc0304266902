"""Issue 18's learning table: Task 4, an SFT default (v5, or v9 with the arguments below) before and after 30 TGRPO episodes, greedy,
50 trials on init states 0-49, for Table 3's alphas and both ablations of Table 1 (a1 = 0, a2 = 0),
seed by seed (exact McNemar over the init states), then mean +- std (n-1) and pooled tests. The
greedy 'before' is the same evaluation for every seed, so the pooled tests treat repeated outcomes as
independent: a hint, the per-seed tests are the finding. Last, each ablation against Table 3's alphas
after training, state by state. Runs not done yet print as '-'.

    python results/default_v5/compare_greedy.py [BEFORE] [PREFIX]       # from the repository root
    python results/default_v5/compare_greedy.py default_v9/w192_task4_greedy50 task4_v9_lr1e-5   # the v9 runs

Folders under results/: BEFORE (default default_v5/v5_task4_greedy50), the 50 greedy trials of the
SFT policy (greedy evaluation is deterministic, so one folder serves every seed), and
PREFIX_<config>_seed<S> (default PREFIX task4_v5), the runs made by learn_task4.sh.
"""
import json
import sys
from pathlib import Path
from statistics import mean, stdev

R = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(R / "reward_fix"))
from compare_task4 import evals, mcnemar, two_proportion_p  # noqa: E402  (one copy of the tests)
CONFIGS = {"table3": "a1 0.35, a2 0.65", "a1_0": "a1 0, a2 0.65", "a2_0": "a1 0.35, a2 0"}


def greedy50(folder, episode):
    """The 50-trial greedy evaluation of results/<folder> after `episode` episodes (the last, if several), or None."""
    return evals(folder).get((episode, "greedy"))


def paired(a, b):
    return "both %d, neither %d, only before %d, only after %d, exact McNemar p = %.2g" % mcnemar(a, b)


BEFORE = sys.argv[1] if len(sys.argv) > 1 else "default_v5/v5_task4_greedy50"
PREFIX = sys.argv[2] if len(sys.argv) > 2 else "task4_v5"
before = greedy50(BEFORE, 0)
print(f"{BEFORE}, Task 4, greedy, 50 trials: {'-' if before is None else before['successes']}/50")
for config, label in CONFIGS.items():
    print(f"== {config} ({label}), 30 episodes")
    done = []
    for seed in (0, 1, 2):
        after = greedy50(f"{PREFIX}_{config}_seed{seed}", 30)
        if before is None or after is None:
            print(f"  seed {seed}: -")
            continue
        done.append(after)
        a = json.loads((R / f"{PREFIX}_{config}_seed{seed}" / "args.json").read_text())   # the run's own settings
        assert f"a1 {float(a['a1']):g}, a2 {float(a['a2']):g}" == label, (config, a["a1"], a["a2"])
        print(f"  seed {seed} (lr {float(a['lr']):g}, M = {a['num_envs']}): {before['successes']}/50 -> {after['successes']}/50 | per state: "
              + paired(before["per_trial"], after["per_trial"]))
    if done:
        rates = [100 * e["successes"] / 50 for e in done]
        k2, n = sum(e["successes"] for e in done), 50 * len(done)
        k1 = before["successes"] * len(done)
        sd = f" +- {stdev(rates):.1f}" if len(rates) > 1 else ""
        print(f"  {len(done)} seeds: {100 * before['successes'] / 50:.1f}% -> {mean(rates):.1f}{sd}% | pooled {k1}/{n} -> "
              f"{k2}/{n}, two-proportion p = {two_proportion_p(k1, k2, n):.2g} | pooled per (seed, state): "
              + paired(before["per_trial"] * len(done), sum((e["per_trial"] for e in done), [])))

# Each ablation against the full advantage, after training: same seed, same init state. Each outcome is
# its own policy's, but a state recurs once per seed, so these pooled tests are hints too.
full = {s: greedy50(f"{PREFIX}_table3_seed{s}", 30) for s in (0, 1, 2)}
for config in ("a1_0", "a2_0"):
    pairs = [(full[s], greedy50(f"{PREFIX}_{config}_seed{s}", 30)) for s in (0, 1, 2)]
    pairs = [(f, x) for f, x in pairs if f is not None and x is not None]
    if pairs:
        k1, k2, n = sum(f["successes"] for f, _ in pairs), sum(x["successes"] for _, x in pairs), 50 * len(pairs)
        print(f"== table3 -> {config}, after 30 episodes, {len(pairs)} seeds: {k1}/{n} -> {k2}/{n}, two-proportion "
              f"p = {two_proportion_p(k1, k2, n):.2g} | per (seed, state), 'before' = table3: "
              + paired(sum((f["per_trial"] for f, _ in pairs), []), sum((x["per_trial"] for _, x in pairs), [])))
