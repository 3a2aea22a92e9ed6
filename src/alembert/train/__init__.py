"""The training loop, checkpoints, progress display and run log."""

from alembert.train.checkpoint import TrainerState, atomic_folder, latest_checkpoint
from alembert.train.loop import StageResult, TrainingDiverged, build_optimizer, freeze_except, run_stage
from alembert.train.runlog import RunLog


__all__ = [
    "RunLog",
    "StageResult",
    "TrainerState",
    "TrainingDiverged",
    "atomic_folder",
    "build_optimizer",
    "freeze_except",
    "latest_checkpoint",
    "run_stage",
]
