#!/usr/bin/env bash
# Issue 18, recipe v11: v9's demonstrations recorded again with a 192 px model input (v9: 128 px).
#
#   bash results/default_v11/demos.sh WORKDIR PART      # PART 0 or 1: two processes side by side
#
# The same 33 jobs of 10 demos as v9 (expert --turn 0.6, noise 0.2): placement seed 0 for the ten
# tasks, seeds 1-5 for Task 4, seeds 2 and 3 for the nine other tasks. Job i goes to part i % 2.
# A job already timed in WORKDIR/stages.txt is skipped, so a run cut off by the end of a session
# continues where it stopped (only the unfinished job is lost; a half-written .npz is never trusted).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: demos.sh WORKDIR PART" >&2; exit 2; }
W=$1 PART=$2
mkdir -p "$W"
jobs=()
for T in 1 2 3 4 5 6 7 8 9 10; do jobs+=("0 $T"); done
for S in 1 2 3 4 5; do jobs+=("$S 4"); done
for S in 2 3; do for T in 1 2 3 5 6 7 8 9 10; do jobs+=("$S $T"); done; done
for i in "${!jobs[@]}"; do
    [ $((i % 2)) -eq "$PART" ] || continue
    read -r S T <<< "${jobs[$i]}"
    grep -q "^demos seed $S task $T:" "$W/stages.txt" 2>/dev/null && continue
    t0=$SECONDS
    python make_default.py demos --tasks "$T" --per-task 10 --seed "$S" --turn 0.6 --image-size 192 \
        --out "$W/demos_s$S" >> "$W/demos_part$PART.log" 2>&1
    echo "demos seed $S task $T: $((SECONDS - t0)) s" >> "$W/stages.txt"
done
