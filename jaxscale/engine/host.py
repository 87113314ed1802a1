"""Every CPU core as a JAX device, and the persistent compilation cache.

JAX gives a CPU one device, and one device runs one lane loop on one core. jaxscale shards its
lanes over the local devices (``shard_map``), so to use every core of a CPU it asks JAX for one
CPU device per core. JAX reads that setting (``jax_num_cpu_devices``) only when it creates its
backends, at the first JAX operation of the process; so ``import jaxscale`` sets it then, if and
only if

- ``JAXSCALE_CPU_DEVICES`` is not ``1`` (the opt-out; an integer ``N > 1`` asks for ``N`` devices,
  unset means one per core this process may run on),
- nobody chose a CPU device count already (``JAX_NUM_CPU_DEVICES``, ``jax.config`` or
  ``XLA_FLAGS=--xla_force_host_platform_device_count``), and
- JAX has not created its backends yet. If it has (a JAX operation ran before ``import jaxscale``),
  nothing changes and :data:`NOTE` says how to get every core: import jaxscale first, or call
  ``jax.config.update("jax_num_cpu_devices", N)`` right after ``import jax``.

A CPU device count only changes how work is spread over cores; results never depend on it.

``import jaxscale`` also turns JAX's persistent compilation cache on (:func:`configure_compilation_cache`),
as the command line does: compiled programs are kept in ``$JAXSCALE_CACHE_DIR`` or
``~/.cache/jaxscale/xla`` so a new process reads them instead of compiling again.
``JAXSCALE_CACHE_DIR=off`` turns it off; a cache directory the user gave JAX
(``JAX_COMPILATION_CACHE_DIR``, ``jax.config``) is never replaced. Results never depend on it.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "JAXSCALE_CPU_DEVICES"

#: What :func:`configure_cpu_devices` did at import (shown by ``jaxscale.cpu_devices_note()``).
NOTE = "not configured yet"


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def requested_devices() -> int:
    """``$JAXSCALE_CPU_DEVICES`` as a positive integer, or the number of cores when it is unset."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return cpu_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENV}={text!r}: use 1 to leave JAX's CPU devices alone, or an integer N > 1 "
                         "for N CPU devices (unset: one per core)")
    return value


def configure_cpu_devices(n: int | None = None) -> str:
    """Ask JAX for ``n`` CPU devices (default :func:`requested_devices`) unless that is not ours to do.

    Returns (and stores in :data:`NOTE`) a sentence saying what happened. Never changes a device
    count JAX already uses or one the user chose.
    """
    global NOTE
    import jax

    n = requested_devices() if n is None else int(n)
    if n <= 1:
        NOTE = f"one CPU device ({ENV}=1 or a single core): lanes run on one core"
    elif jax.config.jax_num_cpu_devices != -1:
        NOTE = f"CPU devices left as configured (jax_num_cpu_devices={jax.config.jax_num_cpu_devices})"
    elif "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        NOTE = "CPU devices left as configured (XLA_FLAGS --xla_force_host_platform_device_count)"
    else:
        try:
            jax.config.update("jax_num_cpu_devices", n)
            NOTE = f"{n} CPU devices (one per core; {ENV}=1 turns this off)"
        except Exception:  # JAX validates that its backends are not initialised yet
            NOTE = (f"JAX was initialised before jaxscale was imported, so it keeps its CPU device count; "
                    f"to use {n} cores import jaxscale before running any JAX operation, or call "
                    f"jax.config.update('jax_num_cpu_devices', {n}) right after 'import jax'")
    return NOTE


#: Values of ``$JAXSCALE_CACHE_DIR`` that turn the persistent compilation cache off.
CACHE_OFF = ("off", "0", "none", "false", "no")

#: What :func:`configure_compilation_cache` did at import (shown by ``jaxscale.compilation_cache_note()``).
CACHE_NOTE = "not configured yet"


def cache_opted_out() -> bool:
    """Whether ``$JAXSCALE_CACHE_DIR`` turns jaxscale's compilation cache off (``off``, ``0``, ``none`` ...)."""
    return os.environ.get("JAXSCALE_CACHE_DIR", "").strip().lower() in CACHE_OFF


def default_cache_dir() -> Path:
    """``$JAXSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxscale/xla`` (``~/.cache/jaxscale/xla``)."""
    if os.environ.get("JAXSCALE_CACHE_DIR") and not cache_opted_out():
        return Path(os.environ["JAXSCALE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaxscale" / "xla"


def enable_compilation_cache(path: str | Path | None = None) -> Path | None:
    """Keep compiled programs on disk so a new process skips compiling them (JAX's persistent cache).

    Uses ``path`` (default :func:`default_cache_dir`) unless JAX already has a cache directory
    (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``): a directory the user gave JAX is never
    replaced. Every program is cached, however fast it compiled (a cache read costs
    milliseconds; a small program still costs 0.05-0.3 s to compile), unless the user set
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``. Programs are keyed by their computation,
    shapes, devices and JAX version; results are identical with or without the cache. Returns
    the directory in use.
    """
    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    target = Path(path) if path is not None else default_cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(target))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return target


def configure_compilation_cache() -> str:
    """Turn JAX's persistent compilation cache on at import, as the command line does.

    On unless ``$JAXSCALE_CACHE_DIR`` is ``off`` (or ``0``, ``none``); in ``$JAXSCALE_CACHE_DIR``
    or ``~/.cache/jaxscale/xla``; a cache directory the user gave JAX is kept. An unwritable
    directory only costs compile time. Returns (and stores in :data:`CACHE_NOTE`) what happened.
    """
    global CACHE_NOTE
    import jax

    if cache_opted_out():
        CACHE_NOTE = "compilation cache off (JAXSCALE_CACHE_DIR=off)"
    elif jax.config.jax_compilation_cache_dir:
        CACHE_NOTE = f"compilation cache left as configured ({jax.config.jax_compilation_cache_dir})"
    else:
        try:
            CACHE_NOTE = f"compilation cache in {enable_compilation_cache()} (JAXSCALE_CACHE_DIR=off turns it off)"
        except OSError as err:
            CACHE_NOTE = f"compilation cache off: {err}"
    return CACHE_NOTE
