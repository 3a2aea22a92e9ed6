"""The training loop (set-up in :mod:`.setup`, steps in :mod:`.loop`), checkpoints, run control, progress and log."""

from alembert.train.checkpoint import TrainerState, atomic_folder, latest_checkpoint
from alembert.train.loop import StageResult, StageTrainer, TrainingDiverged, run_stage
from alembert.train.runlog import RunLog
from alembert.train.setup import StageInputs, StageSpec, build_optimizer, freeze_except, prepare_stage


__all__ = [
    "RunLog",
    "StageInputs",
    "StageResult",
    "StageSpec",
    "StageTrainer",
    "TrainerState",
    "TrainingDiverged",
    "atomic_folder",
    "build_optimizer",
    "freeze_except",
    "latest_checkpoint",
    "prepare_stage",
    "run_stage",
]
