"""Population-based training whose clones keep the state they were cloned from.

Tune's PBT points a cloned trial at the checkpoint the donor had at its last perturbation point, and nothing
more; the donor's checkpoint manager deletes that checkpoint once the donor has reported ``num_to_keep``
newer ones, so a clone could be handed a checkpoint that is already gone, or lose it when it is restarted
later (its worker died, the driver was stopped and the sweep resumed): it then failed every restore
("checkpoint does not exist on storage anymore") and ended in ERROR. Here a clone starts from the donor's
newest checkpoint still on storage, and the driver copies it, at clone time, into
``<sweep folder>/clones/<trial>/``, which Tune never prunes, and points the clone at that copy (with
``cloned_from.json`` saying where it came from). A trial keeps only the copy it was last cloned from.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ray.train import Checkpoint
from ray.train._internal.session import _TrainingResult
from ray.tune.schedulers import PopulationBasedTraining

from sweeps.trainable import CLONED_FROM

logger = logging.getLogger(__name__)


def _exists(checkpoint: Checkpoint) -> bool:
    from pyarrow.fs import FileType

    return checkpoint.filesystem.get_file_info(checkpoint.path).type != FileType.NotFound


def newest_existing(trial: Any) -> Checkpoint | None:
    """The donor's newest checkpoint still on storage: its latest, else (Tune has deleted the latest's path
    through a second registration of the same checkpoint, which ``num_to_keep=1`` does) the newest kept one."""
    manager = trial.run_metadata.checkpoint_manager
    candidates = [trial.checkpoint] + [r.checkpoint for r in reversed(manager.best_checkpoint_results)]
    return next((c for c in candidates if c is not None and _exists(c)), None)


class KeepingPBT(PopulationBasedTraining):
    def __init__(self, clones_dir: Path, **kwargs: Any):
        super().__init__(**kwargs)
        self.clones_dir = Path(clones_dir)

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        donor = newest_existing(trial_to_clone)
        if donor is None:
            logger.warning(f"[pbt] no checkpoint of {trial_to_clone} is left on storage; {trial} is not cloned")
            return
        self._trial_state[trial_to_clone].last_checkpoint = donor
        super()._exploit(tune_controller, trial, trial_to_clone)
        manager = trial.run_metadata.checkpoint_manager
        result = manager.latest_checkpoint_result
        folder = self.clones_dir / trial.trial_id
        dest = folder / f"{self._num_perturbations:06d}-from-{trial_to_clone.trial_id}"
        shutil.rmtree(dest, ignore_errors=True)
        donor.to_directory(str(dest))
        (dest / CLONED_FROM).write_text(json.dumps({"trial": trial_to_clone.trial_id, "checkpoint": str(donor.path)}))
        manager._latest_checkpoint_result = _TrainingResult(
            checkpoint=Checkpoint.from_directory(str(dest)), metrics=result.metrics if result else {}
        )
        trial.run_metadata.invalidate_cache()  # the experiment state saved from now on names the copy
        for old in folder.iterdir():
            if old != dest:
                shutil.rmtree(old, ignore_errors=True)
