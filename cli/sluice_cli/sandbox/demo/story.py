"""The demo's story: its fourteen steps, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sluice_cli.sandbox.demo.canary_analysis_story import (
    canary_v4_rolled_back_by_analysis,
    low_traffic_held_then_aborted,
)
from sluice_cli.sandbox.demo.canary_promotion_story import canary_v2
from sluice_cli.sandbox.demo.canary_rollback_story import canary_v3_rolled_back
from sluice_cli.sandbox.demo.cast import (
    ARCHIVE_KEY,
    BATCH_INPUT_KEY,
    HOSTILE_KEY,
    QUIET,
    REALTIME,
    model_key,
)
from sluice_cli.sandbox.demo.checks import Checks
from sluice_cli.sandbox.demo.harness import Demo
from sluice_cli.sandbox.demo.intake_story import (
    create_multi_model_endpoint,
    register_first_version,
    register_second_version,
    reject_hostile_archive,
    reupload_identical,
    run_batch_job,
    show_warm_up,
)
from sluice_cli.sandbox.demo.notifications_story import (
    count_all_notifications,
    count_notifications,
    subscribe_to_notifications,
)
from sluice_cli.sandbox.traffic import SIMULATION_LABEL


@dataclass(frozen=True)
class StoryStep:
    name: str  # short, the key of its StepResult and its row in the summary ("2 register v1")
    title: str  # the section header
    run: Callable[[Demo, Checks], None]


STORY: tuple[StoryStep, ...] = (
    StoryStep(
        "0 setup", "Step 0 · the stack on the sandbox, and two subscribers", subscribe_to_notifications
    ),
    StoryStep(
        "1 endpoint",
        "Step 1 · a multi-model endpoint, with plain SageMaker APIs",
        create_multi_model_endpoint,
    ),
    StoryStep("2 register v1", f"Step 2 · upload {ARCHIVE_KEY}", register_first_version),
    StoryStep("3 same bytes", "Step 3 · upload the same bytes again", reupload_identical),
    StoryStep("4 register v2", "Step 4 · a warm-up request, then new weights", register_second_version),
    StoryStep("5 warm-up", "Step 5 · the warm-up of v2", show_warm_up),
    StoryStep("6 hostile", f"Step 6 · upload {HOSTILE_KEY} (path traversal)", reject_hostile_archive),
    StoryStep("7 batch", f"Step 7 · upload {BATCH_INPUT_KEY}", run_batch_job),
    StoryStep("8 notifications", "Step 8 · what the subscribers received", count_notifications),
    StoryStep(
        "9 canary v2",
        f"Step 9 · a real-time endpoint at v1, then upload {model_key(REALTIME, 'v2')} "
        f"(canary rollout, healthy {SIMULATION_LABEL})",
        canary_v2,
    ),
    StoryStep(
        "10 canary v3 rolled back",
        f"Step 10 · upload {model_key(REALTIME, 'v3')}, {SIMULATION_LABEL}, an error spike on v3: "
        "its alarm fires from the data",
        canary_v3_rolled_back,
    ),
    StoryStep(
        "11 canary v4 slower",
        f"Step 11 · upload {model_key(REALTIME, 'v4')}, 25 % slower than v2 ({SIMULATION_LABEL}), no alarm "
        "to fire: the canary analysis judges it",
        canary_v4_rolled_back_by_analysis,
    ),
    StoryStep(
        "12 low traffic held",
        f"Step 12 · a quiet endpoint {QUIET}, v2 uploaded: too little traffic to judge, the bake extends, "
        "then holds; the operator aborts",
        low_traffic_held_then_aborted,
    ),
    StoryStep(
        "13 notifications",
        "Step 13 · what the subscribers received, the rollouts included",
        count_all_notifications,
    ),
)
