"""One bootstrap job locally vs on a 2-worker Dask LocalCluster: same bits, and the cost of shipping chunks.

    python benchmarks/bench_distributed.py [--resamples 512] [--rows-per-chunk 32] [--out bench_distributed_cpu.json]

The job: Epoch's 240 rows, the "subgrid" starts of ``js.bootstrap`` (full-data optimum + 15 grid starts spread
over Hoffmann's grid), case resamples of seed 0, polished. It runs through the engine's scheduler
(:func:`jaxscale.engine.run_rows`, what ``js.bootstrap`` calls) in fixed chunks of ``--rows-per-chunk``
resamples:

- locally, sharded over the machine's 2 cores (2 host devices), timed twice (1st = compile + run);
- on ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``, one CPU device per worker, timed
  twice (1st includes starting JAX and compiling in each worker);
- with the default timed chunks, locally (which chunk size the probe chose).

Asserted: the cluster's draws are bit-identical to the local ones. Overhead per chunk = (cluster wall
x workers - sum of the workers' own chunk seconds) / chunks: scheduling, pickling the job, returning the
arrays and writing nothing (no checkpoint here). The machine is shared with other jobs: timings are noisy.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")  # both cores locally, before jax

import numpy as np  # noqa: E402

from common import chinchilla_240, machine, timed, write  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=512)
    parser.add_argument("--rows-per-chunk", type=int, default=32)
    parser.add_argument("--out", default="bench_distributed_cpu.json")
    args = parser.parse_args()

    import jax
    import jaxscale as js
    from distributed import Client, LocalCluster
    from jaxscale.api.problem import prepare
    from jaxscale.engine import RowsJob, run_rows

    frame = chinchilla_240()
    problem = prepare(frame)
    law, loss, solver, log_x, log_y = problem.law, problem.loss, problem.solver, problem.log_x, problem.log_y
    estimate = js.fit(frame, starts=js.chinchilla_grid()[::45])
    grid = law.grid()
    starts = np.concatenate([estimate.theta[None, :], grid[np.linspace(0, len(grid) - 1, 15).round().astype(int)]])
    job = RowsJob(solver, law, loss, log_x, log_y, starts, seed=0)
    fits = args.resamples * len(starts)
    chunk = dict(chunk_size=args.rows_per_chunk * len(starts), progress=False)
    n_chunks = -(-args.resamples // args.rows_per_chunk)

    local_1, local_first = timed(run_rows, job, args.resamples, **chunk)
    local, local_second = timed(run_rows, job, args.resamples, **chunk)

    cluster, start_s = timed(LocalCluster, n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                             env={"XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"})
    client = Client(cluster)
    try:
        worker_devices = sorted(client.run(lambda: len(__import__("jax").local_devices())).values())
        remote_1, remote_first = timed(run_rows, job, args.resamples, executor=client, **chunk)
        remote, remote_second = timed(run_rows, job, args.resamples, executor=client, **chunk)
    finally:
        client.close()
        cluster.close()
    for other in (local_1, remote_1, remote):
        for name in ("theta", "value", "converged", "n_at_best"):
            np.testing.assert_array_equal(getattr(other, name), getattr(local, name), err_msg=name)

    timed_chunks, timed_s = timed(run_rows, job, args.resamples, progress=False)
    np.testing.assert_array_equal(timed_chunks.theta, local.theta)

    worker_seconds = sum(t[2] for t in remote.stats["chunk_timings"])
    overhead = (remote_second * 2 - worker_seconds) / n_chunks
    report = {
        "command": f"python benchmarks/bench_distributed.py --resamples {args.resamples} "
                   f"--rows-per-chunk {args.rows_per_chunk}",
        "machine": machine(), "note": "2-core machine shared with other jobs while measured: timings are noisy",
        "job": {"data_rows": int(log_y.shape[0]), "resamples": args.resamples, "starts_per_resample": len(starts),
                "fits": fits, "n_lanes": int(job.n_lanes), "rows_per_chunk": args.rows_per_chunk,
                "chunks": n_chunks},
        "bit_identical": True,
        "local_2_devices": {"first_s": local_first, "second_s": local_second, "fits_per_s": fits / local_second},
        "cluster_2_workers": {"start_s": start_s, "first_s": remote_first, "second_s": remote_second,
                              "fits_per_s": fits / remote_second,
                              "worker_chunk_seconds_mean": worker_seconds / n_chunks,
                              "overhead_per_chunk_s": overhead,
                              "first_run_compile_s_per_chunk": [t[3] for t in remote_1.stats["chunk_timings"]]},
        "timed_chunks_local": {"seconds": timed_s, "probe_rows": timed_chunks.stats["probe_rows"],
                               "rows_per_chunk": timed_chunks.stats["rows_per_chunk"],
                               "chunks": timed_chunks.stats["chunks_computed"]},
        "devices_local": len(jax.local_devices()), "devices_per_worker": worker_devices,
    }
    print(f"local (2 devices): {local_second:.2f} s ({fits / local_second:.0f} fits/s; first call {local_first:.2f} s)")
    print(f"cluster (2 workers): {remote_second:.2f} s ({fits / remote_second:.0f} fits/s; first call "
          f"{remote_first:.2f} s; cluster start {start_s:.2f} s); overhead per chunk {overhead * 1e3:.0f} ms")
    print(f"timed chunks: probe {timed_chunks.stats['probe_rows']} resamples, then "
          f"{timed_chunks.stats['rows_per_chunk']} per chunk; bit-identical everywhere")
    write(args.out, report)


if __name__ == "__main__":
    main()
