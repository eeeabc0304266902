#!/bin/bash
# More demos with the v6 expert (turn 0.6) for the other nine tasks: 10 per (task, seed), tasks and seed given.
# usage: demos_rest.sh SEED TASK [TASK ...]
cd /work/main
s=$1; shift
until grep -q greedy50_10_t4x6 /work/v8/stages.txt 2>/dev/null; do sleep 15; done
for t in "$@"; do
  t0=$(date +%s)
  python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_s$s > /work/v8/demos_s${s}_task$t.log 2>&1
  echo "demos_s${s}_task$t: $(( $(date +%s) - t0 )) s: python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_s$s" >> /work/v8/stages.txt
done
