"""Write the searched architecture and the gate history during a search."""
import json
import os
import os.path as osp
from typing import Optional

from mmengine.dist import master_only
from mmengine.hooks import Hook

from mmseg.registry import HOOKS
from .utils import nas_algorithm

GATE_HISTORY = 'gate_history.jsonl'


@HOOKS.register_module()
class ArchitectureHook(Hook):
    """Export the current architecture and record gate curves.

    * every ``interval`` iterations and at the end of training it writes
      ``{work_dir}/{out_dir}/arch_iter_{n}.json`` (and ``arch_final.json``
      at the end): the algorithm's ``export()`` (for MTL-NAS the candidate
      edges, their gate probabilities and the kept set), in the export
      format of :mod:`mtlnas_mm.structures.export`;
    * every ``history_interval`` iterations it appends one JSON line
      ``{"iter": n, "gates": {choice: value}}`` (the architecture's
      ``soft_values()``) to ``gate_history.jsonl``, which
      ``tools/analysis_tools/visualize_arch.py`` turns into curves.

    On resume, history lines written after the resumed checkpoint (by the
    crashed run) are dropped, so the curves have no duplicate iterations.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: int = 1000, history_interval: int = 10,
                 out_dir: str = 'arch') -> None:
        if interval <= 0 or history_interval <= 0:
            raise ValueError('ArchitectureHook: intervals must be positive')
        self.interval = interval
        self.history_interval = history_interval
        self.out_dir = out_dir

    def _dir(self, runner) -> str:
        path = osp.join(runner.work_dir, self.out_dir)
        os.makedirs(path, exist_ok=True)
        return path

    @master_only
    def before_train(self, runner) -> None:
        path = osp.join(self._dir(runner), GATE_HISTORY)
        if not osp.exists(path):
            return
        with open(path) as f:
            lines = [line for line in f if line.strip()]
        kept = [
            line for line in lines if json.loads(line)['iter'] <= runner.iter
        ]
        if len(kept) != len(lines):
            with open(path, 'w') as f:
                f.writelines(kept)

    @master_only
    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        it = runner.iter + 1
        if it % self.history_interval == 0 or it == 1:
            arch = nas_algorithm(runner, 'ArchitectureHook').export()
            line = {'iter': it, 'gates': arch.soft_values()}
            with open(osp.join(self._dir(runner), GATE_HISTORY), 'a') as f:
                f.write(json.dumps(line) + '\n')
        if self.every_n_train_iters(runner, self.interval):
            self.dump(runner, f'arch_iter_{it}.json')

    @master_only
    def after_train(self, runner) -> None:
        self.dump(runner, 'arch_final.json')

    def dump(self, runner, name: str) -> str:
        path = osp.join(self._dir(runner), name)
        nas_algorithm(runner, 'ArchitectureHook').export().dump(path)
        runner.logger.info(f'architecture written to {path}')
        return path
