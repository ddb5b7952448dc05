"""The library of the analysis tools (``tools/analysis_tools/benchmark*.py``,
``official_fixture.py``, ``share_routing_rho.py``).

* :mod:`.timing`: clocks, the phase split of a search iteration, the
  profiled run (peak memory, FLOPs), machine information;
* :mod:`.cases`: the project's models, configs and synthetic batches, the
  cases of ``benchmark.py``, the FLOP floor (the network's 3x3 convs);
* :mod:`.official`: the official MTL-NAS code of a user's checkout;
* :mod:`.report`: the summary of ``benchmark.py`` (ratios, floor, targets)
  and its markdown;
* :mod:`.runs`: what the tools share around a measurement (a fresh
  measuring process, merged result files, the output rule, the command);
* :mod:`.fidelity`: the official computation's trace against the
  project's (``official_fixture.py``, ``tests/test_analysis``);
* :mod:`.scaling`: ``benchmark_scaling.py``'s points (task-scaled search
  configs), FLOP count, measurement of a point, cost model, fusion law,
  summary, plot and merge;
* :mod:`.share_routing_rho`: the controlled case of share routing
  (``share_routing_rho.py``): recipe, search, retraining, route statistics,
  summary and picture.

Not imported by ``import mtlnas_mm``: import the module needed, e.g.
``from mtlnas_mm.analysis import timing``.
"""
