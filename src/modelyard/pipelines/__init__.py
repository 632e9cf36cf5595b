"""Pipelines: ``@step`` and ``@pipeline``, the DAG, caching, retries, timeouts, executors, resume.

Example::

    import modelyard as yard

    @yard.step
    def load(n: int) -> list[int]:
        return list(range(n))

    @yard.step(cache=True, retries=2)
    def total(values: list[int]) -> int:
        return sum(values)

    @yard.pipeline
    def training(n: int = 10):
        return total(load(n))

    run = training.run(params={"n": 5})      # a PipelineRun; run.output("total") == 10
"""

from __future__ import annotations

from modelyard.entities import PipelineInfo, PipelineRun, StepOutputRef, StepRun
from modelyard.errors import InvalidPipelineError, PipelineFailedError, PipelineNotFoundError
from modelyard.pipelines._materialize import register_materializer
from modelyard.pipelines._pipeline import (
    Pipeline,
    load_output,
    load_pipeline,
    pipeline,
    resume_pipeline,
    run_pipeline,
)
from modelyard.pipelines._schedule_api import enqueue_pipeline, schedule_pipeline, trigger_pipeline
from modelyard.pipelines._step import Step, StepOutput, step

__all__ = [
    "InvalidPipelineError",
    "Pipeline",
    "PipelineFailedError",
    "PipelineInfo",
    "PipelineNotFoundError",
    "PipelineRun",
    "Step",
    "StepOutput",
    "StepOutputRef",
    "StepRun",
    "enqueue_pipeline",
    "load_output",
    "load_pipeline",
    "pipeline",
    "register_materializer",
    "resume_pipeline",
    "run_pipeline",
    "schedule_pipeline",
    "step",
    "trigger_pipeline",
]
