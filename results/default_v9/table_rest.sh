#!/bin/bash
# As run (issue 18, 2026-12-01): the rest of v9's ten-task greedy table, alone on the machine except
# results/default_v10/close_height.py (one environment) beside it. Each task's folder persists.
cd /work/main
for T in 3 5 6 7 8 9 10; do
  t0=$(date +%s)
  OUT=/work/v9/table_w192 TASKS="$T" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/w192 >> /work/v9/table_rest.log 2>&1
  echo "task$T: $(( $(date +%s) - t0 )) s: OUT=/work/v9/table_w192 TASKS=\"$T\" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/w192" >> /work/v9/table_rest_stages.txt
done
