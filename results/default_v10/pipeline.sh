#!/bin/bash
# Issue 18, recipe v10 (as run; its paths are this machine's /work).
#   usage: pipeline.sh WORKDIR NAME "EVAL_TASKS" [sft flags]      e.g. sft flags: --init default_policy --epochs 4
# Waits for the seed-4 demos of tasks 6-10 (results/default_v9/demos_more.sh, another process), then:
# one ten-task SFT on v9's demos + the seed-4 demos, the held-out descent screen of v9 and of the new
# model on the same frames, the expert-phase comparison on Task 2 (v9: 0/50), and 50 greedy trials
# on each of EVAL_TASKS. Every stage's wall time goes to WORKDIR/stages.txt.
W=$1; NAME=$2; TASKS=$3; shift 3
cd /work/main
stage() { name=$1; shift; t0=$(date +%s); "$@" > $W/$name.log 2>&1; echo "$name: $(( $(date +%s) - t0 )) s: $*" >> $W/stages.txt; }
until grep -q "^demos_s4_task10:" /work/v10/stages.txt 2>/dev/null; do sleep 20; done
D="/work/v6/demos /work/v6/demos_t4b /work/v8/demos_t4_s2 /work/v8/demos_t4_s3 /work/v8/demos_t4_s4 /work/v8/demos_t4_s5 /work/v8/demos_s2 /work/v8/demos_s3 /work/v10/demos_s4"
stage sft_$NAME python make_default.py sft --demos $D --out $W/$NAME "$@"
stage screen_v9 python results/default_v6/screen_descent.py 1 /work/v9/w192 $D
stage screen_$NAME python results/default_v6/screen_descent.py 1 $W/$NAME $D
stage phases_task2_$NAME python make_default.py phases /work/v9/w192 $W/$NAME --task 2 --states 0-3 --turn 0.6
for t in $TASKS; do
  stage greedy50_task${t}_$NAME python tgrpo.py --task $t --episodes 0 --eval-trials 50 --model $W/$NAME --out $W/runs/${NAME}_task${t}_greedy50
done
