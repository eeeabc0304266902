"""Task 4, first reward (v3 runs) vs fixed reward (v4 runs): the 50-trial evaluations side by side,
and per init state (exact McNemar) wherever both evaluations recorded per_trial; then, for the
fixed reward over the seeds done so far, mean +- std (n-1) and the pooled tests.

    python results/reward_fix/compare_task4.py        # from the repository root
"""
import json
from math import comb, erf, sqrt
from pathlib import Path
from statistics import mean, stdev

R = Path(__file__).resolve().parent.parent


def read_jsonl(folder, name):
    """The lines of results/<folder>/<name> as dicts ([] when the run has not been done)."""
    f = R / folder / name
    return [json.loads(x) for x in open(f)] if f.exists() else []


def evals(folder, trials=50):
    """{(episode, decoding): eval line} of a run folder's `trials`-trial evaluations (the last, if several)."""
    return {(e["episode"], e.get("decoding", "greedy")): e for e in read_jsonl(folder, "eval.jsonl")
            if e["trials"] == trials}


def mcnemar(a, b):
    """Exact two-sided McNemar test on paired 0/1 outcomes: (both, neither, only a, only b, p)."""
    both = sum(x and y for x, y in zip(a, b))
    neither = sum(not x and not y for x, y in zip(a, b))
    only_a, only_b = sum(x and not y for x, y in zip(a, b)), sum(y and not x for x, y in zip(a, b))
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return both, neither, only_a, only_b, p


def show(label, a, b):
    if a is None or b is None:
        print(f"  {label}: {'-' if a is None else a['successes']} vs {'-' if b is None else b['successes']}")
        return
    line = f"  {label}: {a['successes']}/50 vs {b['successes']}/50"
    if "per_trial" in a and "per_trial" in b:
        line += " | per state: both %d, neither %d, only first %d, only second %d, exact McNemar p = %.2f" % mcnemar(
            a["per_trial"], b["per_trial"])
    print(line)


def two_proportion_p(k1, k2, n):
    """Two-sided p of the pooled two-proportion z-test, k1/n against k2/n (section 2's test)."""
    p = (k1 + k2) / (2 * n)
    if p in (0.0, 1.0):
        return 1.0
    z = abs(k2 - k1) / n / sqrt(2 * p * (1 - p) / n)
    return 1 - erf(z / sqrt(2))


def summary(decoding, pairs):
    """pairs: [(seed, before, after)] of eval lines. Mean +- std (n-1) over the seeds, pooled tests."""
    done = [(s, a, b) for s, a, b in pairs if a is not None and b is not None]
    if not done:
        return
    rate = lambda e: 100 * e["successes"] / e["trials"]
    before, after = [rate(a) for _, a, _ in done], [rate(b) for _, _, b in done]
    sd = lambda x: f" +- {stdev(x):.1f}" if len(x) > 1 else ""
    k1, k2, n = sum(a["successes"] for _, a, _ in done), sum(b["successes"] for _, _, b in done), sum(a["trials"] for _, a, _ in done)
    line = (f"  seeds {[s for s, _, _ in done]}: SFT {mean(before):.1f}{sd(before)}% -> 30 episodes "
            f"{mean(after):.1f}{sd(after)}% | pooled {k1}/{n} -> {k2}/{n}, two-proportion p = {two_proportion_p(k1, k2, n):.2f}")
    if all("per_trial" in a and "per_trial" in b for _, a, b in done):
        line += " | pooled per (seed, state): both %d, neither %d, only before %d, only after %d, McNemar p = %.2f" % mcnemar(
            sum((a["per_trial"] for _, a, _ in done), []), sum((b["per_trial"] for _, _, b in done), []))
    print(f" fixed reward, {decoding}, over seeds:")
    print(line)


def main():
    for decoding in ("sampled", "greedy"):
        print(f"== {decoding} evaluation, 50 trials (init states 0-49)")
        pairs, pairs_v3 = [], []
        for s in (0, 1, 2):
            sft_v3 = evals(f"task4_v3_sft_sampled50_seed{s}").get((0, decoding))
            sft_v4 = (evals(f"task4_v4_sft_sampled50_seed{s}") if decoding == "sampled"
                      else evals("task4_v4_sft_greedy50")).get((0, decoding))
            v3 = evals(f"task4_v3_lr1e-4_seed{s}").get((30, decoding))
            v4 = evals(f"task4_v4_fixedreward_lr1e-4_seed{s}").get((30, decoding))
            print(f" seed {s}")
            pairs.append((s, sft_v4, v4)), pairs_v3.append((s, sft_v3, v3))
            show("first reward: SFT vs 30 episodes", sft_v3, v3)
            show("fixed reward: SFT vs 30 episodes", sft_v4, v4)
            show("after 30 episodes: first vs fixed reward", v3, v4)
        summary(decoding, pairs)
        both = [(a, b) for _, a, b in pairs + pairs_v3 if a is not None and b is not None]
        if decoding == "sampled" and len(both) == 6:   # post hoc: TGRPO at lr 1e-4 with either reward, 6 runs
            k1, k2, n = (sum(a["successes"] for a, _ in both), sum(b["successes"] for _, b in both),
                         sum(a["trials"] for a, _ in both))
            print(f" both rewards pooled (post hoc, 6 runs; the two rewards' evals seed their envs differently): "
                  f"SFT {k1}/{n} -> 30 episodes {k2}/{n}, two-proportion p = {two_proportion_p(k1, k2, n):.3f}")

    print("== training, per run: mean R of the group over episodes 1-6 / 7-18 / 19-30 (each run's own reward, so not"
          " comparable across rewards), KL to pi_ref over 19-30, groups without a success, env-steps that paid the drop penalty")
    for s in (0, 1, 2):
        for name in (f"task4_v3_lr1e-4_seed{s}", f"task4_v4_fixedreward_lr1e-4_seed{s}"):
            rows = read_jsonl(name, "metrics.jsonl")
            if len(rows) < 30:
                print(f"  {name}: {len(rows)} episodes")
                continue
            avg = lambda a, b: sum(r["reward_mean"] for r in rows[a:b]) / (b - a)
            kl = [r["kl"] for r in rows[18:30]]
            print(f"  {name}: R {avg(0, 6):.0f} / {avg(6, 18):.0f} / {avg(18, 30):.0f} | KL {min(kl):.1e} .. {max(kl):.1e}"
                  f" | no success {sum(r['successes'] == 0 for r in rows)}"
                  f" | drops {sum(r['drops'] for r in rows) if 'drops' in rows[0] else 'not counted'}"
                  f" | T {min(r['steps'] for r in rows)}-{max(r['steps'] for r in rows)}")


if __name__ == "__main__":
    main()
