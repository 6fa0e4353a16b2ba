"""Training of the learned methods (R3Net, the "+" baselines), behind
``salbench train`` (:mod:`salbench.commands.train`).

The defaults are those of R3Net's ``train.py`` (github.com/zijundeng/R3Net) and
paper (Deng et al., IJCAI 2018, Sec. 4.1):

* SGD, momentum 0.9, two parameter groups as in the reference code: parameters
  whose name ends in ``bias`` get twice the learning rate and no weight decay;
  everything else (conv / BN weights) gets the learning rate and weight decay
  5e-4;
* learning rate 1e-3 with the "poly" policy,
  ``lr_g(it) = lr_g · (1 - it / max_it) ** 0.9`` for the 0-based iteration
  ``it`` about to run, applied to each group (the bias group keeps its ×2);
* 6000 iterations of batch 14, random 300×300 crops, horizontal flips,
  rotations within ±10°, ImageNet normalisation (see :mod:`salbench.nn.data`);
* the loss is the method's own ``SODNet.loss`` (R3Net: the sum of the binary
  cross-entropies of its seven outputs);
* seed 2018 (the reference script's ``torch.manual_seed``);
* BatchNorm init of PyTorch 0.4.0, which the authors used: in the decoder
  (every module not under ``backbone``) BatchNorm scales are drawn from
  U(0, 1) with zero bias (PyTorch >= 1.0 sets them to 1), after the network is
  built and before the backbone's ImageNet weights are loaded, from the seeded
  RNG. Method option ``bn_init="ones"`` keeps today's init;
* fp32 arithmetic: ``--amp none``. On CUDA the default is bf16 autocast with
  channels-last (speed); the checkpoint (``amp``, ``faithful_fp32``), every
  log record and the final summary line say which was used.

Beyond the reference script: exact resume (model, optimiser, iteration, RNG
states; the sample order is a pure function of seed and iteration),
bf16 autocast and channels-last on CUDA, DistributedDataParallel through
``torchrun`` (the global batch is split evenly over the processes, so one
process and several see the same samples), and a JSON-lines log.

Everything here is method-agnostic: a method only has to provide
``build_model()`` returning a module with ``forward(x) -> list[logits]`` and
``loss(outputs, target) -> Tensor`` (see ``salbench.nn.learned``), and may
override trainer defaults through a ``train_defaults`` class attribute.

Modules: :mod:`~salbench.nn.train.schedule` (defaults, optimiser, poly
learning rate, seeding and RNG state, BatchNorm init),
:mod:`~salbench.nn.train.distributed` (:class:`Dist`),
:mod:`~salbench.nn.train.loop` (:class:`Trainer`); the checkpoint files are
those of :mod:`salbench.nn.checkpoint` and the data pipeline is
:mod:`salbench.nn.data`. The names below are re-exported here.
"""

from __future__ import annotations


from salbench.nn.checkpoint import CHECKPOINT_FORMAT, checkpoint_root, load_checkpoint, save_atomic
from salbench.nn.train.distributed import Dist
from salbench.nn.train.loop import TRAJECTORY_KEYS, Trainer, precision_note
from salbench.nn.train.schedule import (BN_INITS, DEFAULTS, build_optimizer, param_groups, poly_factor,
                                        reinit_decoder_bn, rng_state, seed_everything, set_poly_lr,
                                        set_rng_state)

__all__ = ["Trainer", "Dist", "DEFAULTS", "TRAJECTORY_KEYS", "BN_INITS", "CHECKPOINT_FORMAT",
           "precision_note", "reinit_decoder_bn", "param_groups", "build_optimizer", "poly_factor",
           "set_poly_lr", "rng_state", "set_rng_state", "seed_everything", "checkpoint_root",
           "save_atomic", "load_checkpoint"]

