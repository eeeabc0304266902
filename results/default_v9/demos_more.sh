#!/bin/bash
# Issue 18, towards recipe v10 (as run): 10 more v6-expert demos per (task, seed) for the nine tasks
# other than Task 4, towards 60 per task. One process, beside v9's ten-task table (one job each core);
# it starts when the test suite has ended.   usage: demos_more.sh SEED TASK [TASK ...]
cd /work/main
s=$1; shift
until grep -q "^rc" /work/v9/tests_full.log 2>/dev/null; do sleep 15; done
for t in "$@"; do
  t0=$(date +%s)
  python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v10/demos_s$s > /work/v10/demos_s${s}_task$t.log 2>&1
  echo "demos_s${s}_task$t: $(( $(date +%s) - t0 )) s: python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v10/demos_s$s" >> /work/v10/stages.txt
done
