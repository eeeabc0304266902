#!/bin/bash
# Issue 18, recipe v8 (as run): more demos with v6's expert (turn 0.6) for the other nine tasks, 10 per
# (task, seed). Run as two processes: `demos_rest.sh 2 1 2 3 5 6; demos_rest.sh 3 1 2 3 5` and
# `demos_rest.sh 2 7 8 9 10; demos_rest.sh 3 6 7 8 9 10` (stages.txt). Each
# waited for the ten-task model's evaluation to end, so that no demo shared the CPU with it.
# usage: demos_rest.sh SEED TASK [TASK ...]     Paths are that session's work directory (/work/v8).
cd /work/main
s=$1; shift
until grep -q greedy50_10_t4x6 /work/v8/stages.txt 2>/dev/null; do sleep 15; done
for t in "$@"; do
  t0=$(date +%s)
  python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_s$s > /work/v8/demos_s${s}_task$t.log 2>&1
  echo "demos_s${s}_task$t: $(( $(date +%s) - t0 )) s: python make_default.py demos --tasks $t --per-task 10 --seed $s --turn 0.6 --out /work/v8/demos_s$s" >> /work/v8/stages.txt
done
