#!/bin/bash
# Issue 18, recipe v8 (as run, 2026-11-30): 40 more Task 4 demos with recipe v6's expert (turn 0.6 rad
# while closing), placement seeds 2-5, beside the v6 demos of seeds 0 and 1 (60 Task 4 demos in all).
# Run as two processes: `demos.sh 2 3 &` and `demos.sh 4 5` (~6 min per 10 demos each). Paths are the
# work directory of that session (/work/v8); demos are GBs and never enter the repository.
cd /work/main
for s in "$@"; do
  t0=$(date +%s)
  python make_default.py demos --tasks 4 --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_t4_s$s > /work/v8/demos_t4_s$s.log 2>&1
  echo "demos_t4_s$s: $(( $(date +%s) - t0 )) s: python make_default.py demos --tasks 4 --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_t4_s$s" >> /work/v8/stages.txt
done
