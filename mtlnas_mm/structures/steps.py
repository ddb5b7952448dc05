"""The two steps of a bilevel search iteration.

Their names are the keys of everything split by step: the batches the
bilevel loop yields, the optimizers of ``OptimWrapperDict`` and the
``param_scheduler`` dict of a search config.  Defined here, below models,
engine and tools, so that each can use them without importing the others.
"""
ARCH_STEP = 'arch'
WEIGHT_STEP = 'weight'
STEPS = (ARCH_STEP, WEIGHT_STEP)
