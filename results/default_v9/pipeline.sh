#!/bin/bash
# As run: nohup ./pipeline.sh /work/v9 w192 --width 192 &   (it waits for nothing: the CPU was idle)
# Issue 18, recipe v9: one ten-task SFT on 30 v6-expert demos per task + 60 for Task 4, then the
# held-out descent screen, then 50 greedy Task 4 trials.   usage: pipeline.sh WORKDIR NAME [sft flags]
W=$1; NAME=$2; shift 2
cd /work/main
stage() { name=$1; shift; t0=$(date +%s); "$@" > $W/$name.log 2>&1; echo "$name: $(( $(date +%s) - t0 )) s: $*" >> $W/stages.txt; }
D="/work/v6/demos /work/v6/demos_t4b /work/v8/demos_t4_s2 /work/v8/demos_t4_s3 /work/v8/demos_t4_s4 /work/v8/demos_t4_s5 /work/v8/demos_s2 /work/v8/demos_s3"
stage sft_$NAME python make_default.py sft --demos $D --out $W/$NAME "$@"
stage screen_$NAME python results/default_v6/screen_descent.py 1 $W/$NAME $D
stage greedy50_$NAME python tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model $W/$NAME --out $W/runs/${NAME}_greedy50
