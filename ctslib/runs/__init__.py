"""The experiment engine: a run as a frozen config, the scale presets, one record per method, the pipeline of a run
(rewind point, draw, training, test), the cached and resumable run store, and sweeps over many runs.

| module        | what                                                                                    |
|---------------|-----------------------------------------------------------------------------------------|
| `config`      | `RunConfig` and its identity: run id, rewind key, chain key                             |
| `presets`     | smoke / cpu / paper: the only base configs, density grids and seeds                    |
| `methods`     | `Method` records (draw, display name, traits) and `label(config)`                        |
| `runtime`     | device, seeds, DistributedDataParallel under torchrun                                   |
| `checkpoints` | a run's checkpoints in its folder                                                       |
| `pipeline`    | one run end to end (`execute`), its data and its record                                 |
| `lock`        | the lock that keeps a run to one process                                                |
| `store`       | `RunStore`: records, tickets, shared rewind points and LTR chains                       |
| `sweep`       | order, shards, the local worker pool and the one sweep loop                             |

Nothing here imports `ctslib.report`.
"""
