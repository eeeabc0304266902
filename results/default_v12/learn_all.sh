#!/usr/bin/env bash
# Issue 18, part 2 on the v12 default (desc8, shipped as default_policy/): the nine Task 4 learning runs,
# one after the other, each by results/default_v5/learn_task4.sh (lr 1e-5 unless given, 30 episodes,
# M = 8, 16 greedy trials every 10 episodes, then 50 greedy trials). Table 3's alphas for seeds 0-2 first,
# then the two ablations of Table 1. Resumable: a finished run (its stages.txt has the greedy50 line) is
# skipped, a cut one continues from its last checkpoint, so the same command goes on in the next session.
#
#   bash results/default_v12/learn_all.sh MODEL OUTDIR [LR]     # from the repository root; LR 1e-5 if not given
#
# As run: MODEL = /work/v12/desc8 (byte-identical to default_policy/), OUTDIR = /work/v12/learn, no LR
# (the lr 3e-5 probe of section 9 ran learn_task4.sh directly; LR lets its other runs go on here), from a
# worktree at a fixed commit so edits in the working copy cannot reach a running job, OMP_NUM_THREADS=1
# as for the v9 runs (section 8 of results/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: learn_all.sh MODEL OUTDIR [LR]" >&2; exit 2; }
MODEL=$1 OUTDIR=$2 LR=${3:-1e-5}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUTDIR"
for cfg in "table3 0.35 0.65" "a1_0 0 0.65" "a2_0 0.35 0"; do
    read -r name a1 a2 <<< "$cfg"
    for seed in 0 1 2; do
        out=$OUTDIR/${name}_seed$seed
        grep -qs '^greedy50:' "$out/stages.txt" && continue
        echo "$(date -u +%FT%TZ) start $name seed $seed" >> "$OUTDIR/chain.log"
        bash results/default_v5/learn_task4.sh "$MODEL" "$seed" "$a1" "$a2" "$LR" "$out" >> "$out.console.log" 2>&1
        echo "$(date -u +%FT%TZ) done  $name seed $seed" >> "$OUTDIR/chain.log"
    done
done
