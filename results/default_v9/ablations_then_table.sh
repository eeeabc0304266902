#!/bin/bash
# As run (issue 18, a later session): after the a1 = 0 seed 0 run (started by hand with the same
# learn_task4.sh line, `... 0 0 0.65 1e-5 /work/v10/learn/v9_a1_0_s0`), the a2 = 0 seed 0 run, then v9's
# table for tasks 8, 9, 10, one job at a time, alone on the machine. Folders:
# results/task4_v9_lr1e-5_a{1,2}_0_seed0/, results/default_v9/table_w192/task{8,9,10}/.
cd /work/main
export OMP_NUM_THREADS=1
while pgrep -f learn_task4.sh > /dev/null; do sleep 20; done
bash results/default_v5/learn_task4.sh /work/v9/w192 0 0.35 0 1e-5 /work/v10/learn/v9_a2_0_s0 >> /work/v10/learn/a2_0_s0.log 2>&1
for T in 8 9 10; do
  t0=$(date +%s)
  OUT=/work/v9/table_w192 TASKS="$T" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/w192 >> /work/v9/table_rest.log 2>&1
  echo "task$T: $(( $(date +%s) - t0 )) s: OUT=/work/v9/table_w192 TASKS=\"$T\" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/w192" >> /work/v9/table_rest_stages.txt
done
