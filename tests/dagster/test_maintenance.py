"""Old finished runs are pruned; recent ones and the pruning run itself stay."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from statmuse_pipelines.automation.jobs import prune_old_runs_job


@dg.op
def noop():
    return 1


@dg.job
def tiny_job():
    noop()


def test_prune_keeps_recent_runs_and_deletes_old_ones(monkeypatch):
    with dg.instance_for_test() as instance:
        first = tiny_job.execute_in_process(instance=instance).run_id
        second = tiny_job.execute_in_process(instance=instance).run_id
        # nothing is 90 days old yet
        result = prune_old_runs_job.execute_in_process(instance=instance)
        assert result.output_for_node("prune_old_runs") == 0
        assert {first, second} <= {r.run_id for r in instance.get_runs()}
        # with a retention of 0 days, both earlier runs go, the pruning runs stay
        later = datetime.now(UTC) + timedelta(seconds=1)
        monkeypatch.setattr(
            "statmuse_pipelines.automation.jobs.datetime",
            type("Clock", (), {"now": staticmethod(lambda tz=None: later)}),
        )
        config = {"ops": {"prune_old_runs": {"config": {"keep_days": 0}}}}
        result = prune_old_runs_job.execute_in_process(instance=instance, run_config=config)
        assert result.output_for_node("prune_old_runs") == 3  # two tiny runs, the first prune
        remaining = {r.run_id for r in instance.get_runs()}
        assert first not in remaining and second not in remaining
        assert result.run_id in remaining
