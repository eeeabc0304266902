"""How many pixels of the policy's 128 px agentview input one centimetre of height makes at the target
object, from the camera's pose and field of view (pinhole projection, no rendering).

    python results/default_v10/pixels_per_cm.py [TASK ...]        # from the repository root; default 1 2 4
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from make_default import TASK_TARGETS, make_env  # noqa: E402

for task in [int(t) for t in sys.argv[1:]] or [1, 2, 4]:
    env, _, init_states = make_env(task, 256)
    env.reset()
    env.set_init_state(init_states[0])
    m, d = env.env.sim.model, env.env.sim.data
    cam = m.camera_name2id("agentview")
    pos, rot = d.cam_xpos[cam], d.cam_xmat[cam].reshape(3, 3)
    focal = 64 / np.tan(np.radians(m.cam_fovy[cam]) / 2)          # pixels, for a 128 px image

    def project(p):                                                # camera frame: x right, y up, looking along -z
        c = rot.T @ (p - pos)
        return focal * c[:2] / -c[2]

    obj = d.body_xpos[env.env.obj_body_id[TASK_TARGETS[task - 1]]]
    px = np.linalg.norm(project(obj + [0, 0, 0.05]) - project(obj + [0, 0, 0.01])) / 4
    print(f"task {task}: camera {np.linalg.norm(obj - pos):.2f} m from the target, fovy {m.cam_fovy[cam]:.0f} deg: "
          f"{px:.2f} px per cm of height at 128 px", flush=True)
    env.close()
