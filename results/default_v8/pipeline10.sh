#!/bin/bash
# Issue 18, recipe v8, ten tasks (as run): the v6 demos of all ten tasks (10 per task) plus the 50 new
# Task 4 demos, so Task 4 is 60 of 150 demos (~40% of the frames); the shipped SFT recipe (12 epochs).
# Its SFT was paused (SIGSTOP) while pipeline.sh's SFT and evaluation ran: notes.txt, so its wall time
# in stages.txt includes the pause.
cd /work/main
while pgrep -f "make_default.py demos" > /dev/null; do sleep 10; done
stage() { name=$1; shift; t0=$(date +%s); "$@" > /work/v8/$name.log 2>&1; echo "$name: $(( $(date +%s) - t0 )) s: $*" >> /work/v8/stages.txt; }
D="/work/v6/demos /work/v6/demos_t4b /work/v8/demos_t4_s2 /work/v8/demos_t4_s3 /work/v8/demos_t4_s4 /work/v8/demos_t4_s5"
stage sft_10_t4x6 python make_default.py sft --demos $D --out /work/v8/ten_t4x6
stage screen_10_t4x6 python results/default_v6/screen_descent.py 1 /work/v8/ten_t4x6 $D
# the Task 4-only pipeline's evaluation first (one evaluation at a time)
while pgrep -f "tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model /work/v8/t4_60" > /dev/null || ! grep -q greedy50_t4_60 /work/v8/stages.txt; do sleep 20; done
stage greedy50_10_t4x6 python tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model /work/v8/ten_t4x6 --out /work/v8/runs/ten_t4x6_greedy50
