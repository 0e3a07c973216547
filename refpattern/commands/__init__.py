"""The commands that work on files (``docs/conventions.md#file-commands``):

- ``refpattern fit MODEL DATA --out PATTERNS.npz`` (:mod:`refpattern.commands.fit`): fit patterns,
  in this process or on Dask (``--workers N``, ``--scheduler ADDRESS``);
- ``refpattern explain MODEL INPUTS --method NAME --out OUT.npy`` (:mod:`refpattern.commands.explain`),
  with heat maps (``--png DIR``);
- ``refpattern rho MODEL DATA --patterns P`` (:mod:`refpattern.commands.rho`): ρ per kernel layer;
- ``refpattern info FILE`` (:mod:`refpattern.commands.info`): what a network or patterns file holds.

What they share: reading a model (:mod:`refpattern.commands.model_files`: a refpattern network file,
``.onnx``, ``.keras``, a pickled torch model only when asked), reading data
(:mod:`refpattern.commands.data_files`: ``.npy``, ``.npz``, Zarr; in this process or as a Dask
array), the Dask client (:mod:`refpattern.commands.cluster`) and the output files
(:mod:`refpattern.commands.output_files`: refused when they exist, unless ``--overwrite``; written
atomically).  Every mistake a user can make is found before the work starts and answered with one
line and exit status 2 (``docs/conventions.md#command-line``).
"""
