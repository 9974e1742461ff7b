"""The disk guard's account of what one job wrote on a shared engine disk (no Docker)."""

from autograder.engine.diskguard import DiskAccount
from autograder.engine.docker_cli import writes_unlabelled

MB = 1024**2


def test_between_unlabelled_steps_only_the_jobs_labelled_growth_counts():
    acc = DiskAccount(free=10_000 * MB)
    # Someone else wrote 3 GB while the job's containers grew by 50 MB.
    assert acc.used(7_000 * MB) == 3_000 * MB  # the worst case, until the engine is asked
    assert acc.settle(7_000 * MB, own=50 * MB, charge_drop=False) == 50 * MB
    assert acc.used(7_000 * MB) == 50 * MB


def test_during_an_unlabelled_step_the_whole_drop_counts():
    acc = DiskAccount(free=10_000 * MB)
    acc.settle(9_000 * MB, own=0, charge_drop=False)  # a build starts: 1 GB before it was not ours
    assert acc.used(8_200 * MB) == 800 * MB  # the build (or anyone) wrote 800 MB meanwhile: charged
    # The build ends: its image (800 MB, now labelled) is already charged, never twice.
    assert acc.settle(8_200 * MB, own=800 * MB, charge_drop=True) == 800 * MB
    assert acc.settle(8_100 * MB, own=900 * MB, charge_drop=False) == 900 * MB


def test_removals_lower_the_account_but_never_below_zero():
    acc = DiskAccount(free=10_000 * MB)
    acc.settle(9_500 * MB, own=500 * MB, charge_drop=False)
    assert acc.settle(9_900 * MB, own=100 * MB, charge_drop=False) == 100 * MB
    assert acc.settle(10_500 * MB, own=0, charge_drop=True) == 0


def test_cli_commands_that_may_write_without_the_label():
    assert writes_unlabelled(["docker", "compose", "-p", "ag-1", "up", "-d", "--build"])
    assert writes_unlabelled(["docker", "buildx", "build", "--load", "."])
    assert not writes_unlabelled(["docker", "compose", "-p", "ag-1", "ps", "--format", "json"])
    assert not writes_unlabelled(["docker", "compose", "-p", "ag-1", "logs", "db"])
