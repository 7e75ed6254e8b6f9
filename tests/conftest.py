"""Test-suite setup: persistent compilation cache, quiet deprecation noise, and the groups
of tests that pytest-xdist hands to its workers whole."""
import os
import re
import warnings

import pytest
from xdist.scheduler import LoadScopeScheduling

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Two test workers on one accelerator must not each take most of its memory.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from fpmd_mjx.jax_setup import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
import jax  # noqa: E402
warnings.filterwarnings("ignore", category=DeprecationWarning)

from fpmd_mjx import envs, programs  # noqa: E402

# The default run spreads its tests over two pytest-xdist workers (`-n 2` in pyproject.toml)
# in groups that a worker runs whole, one after another: tests that compile the same programs
# share a group, so the second reads the first's programs from the persistent cache instead of
# compiling them again at the same time in the other worker.
# - the task-suite and parity tests share one compiled program per task (tests/task_programs.py):
#   each task's tests in both modules form one group, so the ten tasks spread over the workers;
# - PPO's loop and runner tests share one configuration; the runner, Gymnasium replay, export
#   and plotting tests share the tiny FPMD-R and DPMD runs of tests/tiny.py; the wheel's
#   installed copy trains make_train's tiny FPMD-M program after tests/test_train.py compiled it;
# - each learning test and each scaling test is a group of its own (they share nothing: the
#   scaling tests run their programs in subprocesses);
# - every other module is a group of its own.
PER_TASK = ("test_envs", "test_parity")
PER_TEST = ("test_learning", "test_scaling")
SHARED_PROGRAMS = {"test_onpolicy": "ppo", "test_ppo": "ppo", "test_train": "make_train", "test_wheel": "make_train",
                   "test_runner": "tiny_runs",
                   "test_gym_eval": "tiny_runs", "test_export": "tiny_runs", "test_baselines": "tiny_runs"}
# Groups start heaviest first (as measured by the run's --durations), so the two workers end
# together; the rest follow in collection order.
HEAVY_FIRST = ("tests/test_learning.py::test_solves_inverted_pendulum[dpmd-overrides3]",
               "tests/test_scaling.py::test_a_sweep_stopped_and_resumed_on_other_process_counts_ends_as_one_process_does",
               "tiny_runs",
               "test_device_check", "make_train", "ppo", "task_pusher", "task_humanoid", "task_hopper")


def worker_group(nodeid: str) -> str:
    """The group of the test ``nodeid`` (``tests/test_envs.py::test_x[pusher]``)."""
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    param = re.search(r"\[([^\]]+)\]$", nodeid)
    if module in PER_TASK and param and param.group(1) in envs.names():
        return f"task_{param.group(1)}"
    if module in PER_TEST:
        return nodeid
    return SHARED_PROGRAMS.get(module, module)


class SharedProgramScheduling(LoadScopeScheduling):
    """pytest-xdist's scope scheduling with :func:`worker_group` as the scope, heaviest first."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.heaviest_first = False  # whether the queue is ordered yet (once, before the first unit goes)

    def _split_scope(self, nodeid: str) -> str:
        return worker_group(nodeid)

    def _assign_work_unit(self, node) -> None:
        if not self.heaviest_first:
            order = {g: i for i, g in enumerate(HEAVY_FIRST)}
            units = sorted(self.workqueue.items(), key=lambda unit: order.get(unit[0], len(order)))
            self.workqueue.clear()
            self.workqueue.update(units)
            self.heaviest_first = True
        super()._assign_work_unit(node)


def pytest_xdist_make_scheduler(config, log):
    return SharedProgramScheduling(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Drop every compiled program when a worker leaves a group of tests: one process that
    keeps all of the suite's XLA executables loaded can exhaust the JIT's code mappings and
    crash. Within a group the programs stay (its modules share them); a program shared with a
    later group is read back from the persistent cache. (After the test's fixtures are torn down.)"""
    yield
    if nextitem is None or worker_group(nextitem.nodeid) != worker_group(item.nodeid):
        programs.release()
        jax.clear_caches()
