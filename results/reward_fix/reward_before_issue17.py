"""Multi-stage reward for the ten LIBERO-Object tasks (TGRPO paper, Appendix A.3, Algorithm 2).

    stage 0  far from the target                      -2
    stage 1  approaching the target                    2
    stage 2  ready to grasp                            4
    stage 3  target grasped and lifted                 8  (+2 near the basket, +2 above it)
    stage 4  target in the basket (task success)      16
    dropped after being lifted (not over the basket)  -4

Every step inside a stage gets the same value (Sec. 3.3: "discrete scores to each stage").
The paper publishes no thresholds; the ones below are ours, each with the reason for its value.
Reads privileged simulator state, so it needs the env object LIBERO's constructors return
(OffScreenRenderEnv / ControlEnv); nothing here imports libero or mujoco.
"""
import numpy as np

# Table 2 order == libero_object task index 0..9; the object each task must put in the basket.
TASK_TARGETS = [
    "alphabet_soup_1", "cream_cheese_1", "salad_dressing_1", "bbq_sauce_1", "ketchup_1",
    "tomato_sauce_1", "butter_1", "milk_1", "chocolate_pudding_1", "orange_juice_1",
]
BASKET = "basket_1"

# The gripper starts ~0.30 m from the target and random actions get to 0.10-0.30 m
# (shared/notes/libero-on-cpu.md): 0.20 m marks real progress towards the object.
APPROACH_DIST = 0.20
# At the scripted grasp pose the eef site is ~0.02 m from the object's body origin and
# 0.12 m when hovering above it: 0.05 m means "fingers around the object".
GRASP_DIST = 0.05
# 5 cm above the height where the object rested: clearly off the floor, yet well below the
# ~0.20 m a carry needs, so a lift is rewarded as soon as it happens.
LIFT_HEIGHT = 0.05
# Object-to-basket horizontal distance. The basket is ~0.15 m wide: within 0.15 m the object
# is next to it, within 0.05 m it is over the inner region and a release drops it in.
NEAR_BASKET_XY = 0.15
ABOVE_BASKET_XY = 0.05

STAGE_REWARDS = (-2.0, 2.0, 4.0, 8.0, 16.0)
NEAR_BASKET_BONUS = 2.0
ABOVE_BASKET_BONUS = 2.0
DROP_PENALTY = -4.0


def target_for_task(task):
    """Task number 1..10 as in the paper's Table 2 -> name of the object to place, e.g. 4 -> 'bbq_sauce_1'."""
    if not 1 <= task <= len(TASK_TARGETS):
        raise ValueError(f"task must be 1..{len(TASK_TARGETS)}, got {task}")
    return TASK_TARGETS[task - 1]


class PickAndPlaceInBasketReward:
    """Algorithm 2. One instance per env: it remembers whether its target was lifted."""

    def __init__(self, target, basket=BASKET):
        self.target, self.basket = target, basket
        self.reset()

    def reset(self):
        """Forget the previous episode. Call after every env reset / set_init_state."""
        self.rest_z = None       # lowest height the target was seen at while not held
        self.was_lifted = False

    def __call__(self, env):
        """env: LIBERO ControlEnv/OffScreenRenderEnv. Returns (reward, info)."""
        e = env.env                      # the robosuite env under LIBERO's wrapper
        d = e.sim.data
        obj = d.body_xpos[e.obj_body_id[self.target]]
        basket = d.body_xpos[e.obj_body_id[self.basket]]
        eef = d.site_xpos[e.robots[0].eef_site_id]
        grasped = bool(e._check_grasp(gripper=e.robots[0].gripper,
                                      object_geoms=e.objects_dict[self.target]))
        success = bool(env.check_success())

        # Objects drop and bounce for a few steps after a reset, so the resting height is
        # the minimum seen while the object is not held, not the first reading.
        if not grasped:
            self.rest_z = obj[2] if self.rest_z is None else min(self.rest_z, obj[2])
        rest_z = obj[2] if self.rest_z is None else self.rest_z
        dist = float(np.linalg.norm(eef - obj))
        basket_xy = float(np.linalg.norm(obj[:2] - basket[:2]))
        height = float(obj[2] - rest_z)
        lifted = grasped and height > LIFT_HEIGHT
        above_basket = basket_xy < ABOVE_BASKET_XY

        if not lifted:
            stage = 0 if dist > APPROACH_DIST else 1 if dist > GRASP_DIST else 2
            reward = STAGE_REWARDS[stage]
        else:
            stage, reward = 3, STAGE_REWARDS[3]
            reward += NEAR_BASKET_BONUS * (basket_xy < NEAR_BASKET_XY)
            reward += ABOVE_BASKET_BONUS * above_basket
        if success:
            stage, reward = 4, STAGE_REWARDS[4]
        # Letting go over the basket is the task, not a drop.
        dropped = self.was_lifted and not grasped and not above_basket and not success
        if dropped:
            reward = DROP_PENALTY
        self.was_lifted = self.was_lifted or lifted

        info = dict(stage=stage, dist_to_target=dist, dist_to_basket_xy=basket_xy,
                    height=height, grasped=grasped, lifted=lifted,
                    above_basket=above_basket, dropped=dropped, success=success)
        return float(reward), info
