"""One trial: a candidate sampled, measured, distilled and recorded (`TrialObjective`).

What the objective returns is the study's three objectives (`records.attrs.OBJECTIVES`):
validation accuracy, latency on the target and FLOPs. Everything a trial needs that does not
change between trials (the data tensors, the teacher's cached outputs) is prepared by the caller
once; FLOPs and latency are cached per architecture across runs (`measure.metrics`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from autokd.data import DataBundle
from autokd.distill.config import TrainConfig
from autokd.distill.training import train_student, training_failure
from autokd.errors import TrialFailed
from autokd.measure.deployed import calibration_images, deployed_accuracy
from autokd.measure.limits import check_fits, inference_bytes, student_size, training_bytes
from autokd.measure.metrics import ArchitectureMetrics, MetricsCache, latency_input_shape
from autokd.measure.predictor import TOLERANCE, operator_features
from autokd.measure.protocol import LatencyMeasurement
from autokd.records import attrs as names
from autokd.records.cache import atomic_write
from autokd.records.folder import weights_file
from autokd.runtime.device import Execution
from autokd.students import StudentSpec
from autokd.study.config import TrialSettings
from autokd.study.latency_plan import clearly_over, could_reach_front, predictor_of
from autokd.study.pruners import Stopped, get_pruner
from autokd.study.space import sample_candidate
from autokd.study.trial import TrialRecord
from autokd.teachers.outputs import TeacherOutputs


def metrics_attrs(metrics: ArchitectureMetrics) -> dict[str, Any]:
    """A trial's costs as its user attributes, recorded before it trains: other workers'
    stoppers compare with them, and a rejected trial keeps them."""
    counts = {names.FLOPS_ATTR: metrics.flops, names.PARAMS_COUNT_ATTR: metrics.params,
              names.METRICS_CACHED_ATTR: metrics.cached,
              names.MEASURE_SECONDS_ATTR: round(metrics.seconds, 3)}  # fmt: skip
    return counts if metrics.latency is None else {**counts, **latency_attrs(metrics.latency)}


def latency_attrs(latency: LatencyMeasurement) -> dict[str, Any]:
    """A timed latency as a trial's attributes (it replaces a predicted one)."""
    return {
        names.LATENCY_ATTR: latency.median_ms,
        names.LATENCY_PREDICTED_ATTR: False,
        names.LATENCY_IQR_ATTR: latency.iqr_ms,
        names.LATENCY_NOISY_ATTR: latency.noisy,
        names.LATENCY_CONTENDED_ATTR: latency.contended,
        names.LATENCY_ATTEMPTS_ATTR: latency.attempts,
        names.LATENCY_BLOCKS_ATTR: latency.blocks,
        names.LATENCY_DEVICE_ATTR: latency.device,
    }


class TrialObjective:
    """The objective Optuna calls: one candidate sampled, measured, distilled and recorded.

    `weights_dir` keeps every trained student's weights (`trial-<n>.pt`), so that a student on
    the front is exported without retraining; None keeps none."""

    def __init__(
        self,
        settings: TrialSettings,
        data: DataBundle,
        outputs: TeacherOutputs,
        weights_dir: Path | None,
        execution: Execution,
        *,
        metrics: MetricsCache,
    ) -> None:
        """`metrics`: the FLOPs and latency cache of the run's settings (`Settings.cache_dir`)."""
        self.config, self.data, self.outputs = settings, data, outputs
        self.weights_dir, self.execution = weights_dir, execution
        self.metrics = metrics
        self._calibration: torch.Tensor | None = None  # the run's, drawn at the first trial

    def __call__(self, trial: Any) -> tuple[float, float, float]:
        config = self.config
        candidate = sample_candidate(trial, config.space, self.data)
        if not self.outputs.feature_shapes:  # a teacher without feature maps (the run says so)
            candidate = dataclasses.replace(candidate, kd=candidate.kd.logits_only())
        trial.set_user_attr(names.ARCHITECTURE_ATTR, candidate.student.describe())
        trial.set_user_attr(names.ARCH_HASH_ATTR, candidate.student.arch_hash())
        for key, value in TrialRecord(candidate.student, candidate.kd).attrs().items():
            trial.set_user_attr(key, value)
        self._check_fits(candidate.student)  # a failed trial still names its student
        # 1) measure first: it needs the architecture only, and is cached per architecture;
        # under --latency predict a latency the cache lacks may be predicted instead
        predicting = config.latency == "predict"
        metrics = self.metrics.measure(
            candidate.student, config.target, time_latency=not predicting
        )
        for key, value in metrics_attrs(metrics).items():
            trial.set_user_attr(key, value)
        predicted = None
        if predicting:
            metrics, predicted = self._latency_or_prediction(trial, candidate.student, metrics)
        if config.constraints.active:
            metrics, predicted = self._reject_if_over_limits(
                trial, candidate.student, metrics, predicted
            )
        # 2) distil briefly from the cached teacher outputs, judged after every epoch
        schedule = TrainConfig(
            epochs=config.epochs,
            lr=candidate.lr,
            batch_size=config.batch_size,
            seed=config.seed + trial.number,
        )
        latency = predicted if predicted is not None else metrics.latency.median_ms
        flops = float(metrics.flops)
        judge = get_pruner(config.pruner).judge(trial, config.epochs, latency, flops)
        try:
            student, result = train_student(
                candidate.student,
                candidate.kd,
                schedule,
                self.data,
                self.outputs,
                callbacks=[judge],
                execution=self.execution,
            )
        except Stopped as stop:
            raise _stopped_trial(trial, stop, getattr(judge, "seconds", 0.0)) from None
        trial.set_user_attr(names.DIVERGED_ATTR, result.diverged)
        failure = training_failure(result, self.data.val_y)
        if failure is not None:  # no result: recorded FAIL with the reason, never on the front
            trial.set_user_attr(names.DIVERGED_ATTR, True)
            raise TrialFailed(failure)
        # 3) keep the weights: a student that ends on the front is exported without retraining
        if self.weights_dir is not None:
            state = {key: tensor.cpu() for key, tensor in student.state_dict().items()}
            path = weights_file(self.weights_dir, trial.number)
            atomic_write(path, lambda tmp: torch.save(state, tmp))
        trial.set_user_attr(names.TRAIN_SECONDS_ATTR, round(result.seconds, 3))
        trial.set_user_attr(names.DATA_SECONDS_ATTR, round(result.data_seconds, 4))
        trial.set_user_attr(names.BEST_ACCURACY_ATTR, result.best_val_accuracy)
        record = TrialRecord(candidate.student, candidate.kd, schedule)
        trial.set_user_attr(names.TRAIN_ATTR, record.attrs()[names.TRAIN_ATTR])
        trial.set_user_attr(names.EPOCHS_ATTR, result.epochs_run)
        accuracy = self._accuracy_that_counts(
            trial, candidate.student, student, result.val_accuracy
        )
        if predicted is not None and could_reach_front(trial.study, accuracy, predicted, flops):
            timed = self._time_now(trial, candidate.student)  # the front is timed
            latency = timed.median_ms
            if config.constraints.active:  # a prediction too low let it train: judged again
                self._reject_if_over_limits(
                    trial, candidate.student, dataclasses.replace(metrics, latency=timed), None
                )
        return accuracy, latency, flops

    def _latency_or_prediction(
        self, trial: Any, student: StudentSpec, metrics: ArchitectureMetrics
    ) -> tuple[ArchitectureMetrics, float | None]:
        """Under --latency predict: the cached latency, or the student timed now while the
        predictor has too few students, or its predicted latency (flagged)."""
        features = operator_features(
            student, latency_input_shape(student, self.config.target),
            self.config.target.batch_size,
        )  # fmt: skip
        trial.set_user_attr(names.LATENCY_FEATURES_ATTR, features.tolist())
        if metrics.latency is not None:  # the cache had it: measured, and free
            return metrics, None
        predictor = predictor_of(trial.study)
        if predictor is None:
            latency = self._time_now(trial, student)
            return dataclasses.replace(metrics, latency=latency), None
        predicted = predictor.predict(features)
        trial.set_user_attr(names.LATENCY_ATTR, predicted)
        trial.set_user_attr(names.LATENCY_PREDICTED_ATTR, True)
        trial.set_user_attr(names.LATENCY_PREDICTION_ATTR, predicted)
        return metrics, predicted

    def _time_now(self, trial: Any, student: StudentSpec) -> LatencyMeasurement:
        started = time.perf_counter()
        latency = self.metrics.time(student, self.config.target)
        for key, value in latency_attrs(latency).items():
            trial.set_user_attr(key, value)
        spent = (
            trial.user_attrs.get(names.MEASURE_SECONDS_ATTR, 0.0) + time.perf_counter() - started
        )
        trial.set_user_attr(names.MEASURE_SECONDS_ATTR, round(spent, 3))
        return latency

    def _accuracy_that_counts(
        self, trial: Any, config: StudentSpec, student: Any, trained: float
    ) -> float:
        """The trained student's accuracy; on a target that quantizes, the deployed model's,
        with the float32 one and the drop recorded beside it. The stopper judged float32
        curves during training; the completed trial (the front) is judged as it ships."""
        target = self.config.target
        if not target.quantizes:
            return trained
        if self._calibration is None:
            count, seed = target.calibration_images, self.config.seed
            self._calibration = calibration_images(self.data, count, seed)
        deployed = deployed_accuracy(
            config, student.state_dict(), target, self._calibration, self.data
        )
        trial.set_user_attr(names.ACCURACY_FP32_ATTR, trained)
        trial.set_user_attr(names.ACCURACY_DROP_ATTR, trained - deployed.accuracy)
        trial.set_user_attr(names.DEPLOY_SECONDS_ATTR, round(deployed.seconds, 3))
        return deployed.accuracy

    def _check_fits(self, student: StudentSpec) -> None:
        """Fail the trial, before allocating anything, when the student cannot fit in memory
        for timing or for training (`measure.limits`)."""
        size, target = student_size(student), self.config.target
        check_fits(
            inference_bytes(size, target.batch_size),
            target.device,
            f"timing it at batch {target.batch_size} on target '{target.name}'",
        )
        check_fits(
            training_bytes(size, self.config.batch_size),
            self.execution.device,
            f"training it at batch {self.config.batch_size}",
        )

    def _reject_if_over_limits(
        self,
        trial: Any,
        student: StudentSpec,
        metrics: ArchitectureMetrics,
        predicted: float | None,
    ) -> tuple[ArchitectureMetrics, float | None]:
        """Record how far the student is from each limit; one over a limit ends here, untrained,
        as a pruned trial that keeps its measured metrics. A predicted latency within the
        predictor's tolerance of the latency limit is timed first (the metrics and prediction
        come back as they then are); one clearly over it rejects the student untimed."""
        import optuna

        limit = self.config.constraints.max_latency_ms
        near = predicted is not None and limit is not None and not clearly_over(predicted, limit)
        if near and predicted * (1 + TOLERANCE) >= limit:  # too near the limit to tell: timed
            metrics = dataclasses.replace(metrics, latency=self._time_now(trial, student))
            predicted = None
        values = {
            "latency_ms": predicted if predicted is not None else metrics.latency.median_ms,
            "flops": metrics.flops,
            "params": metrics.params,
        }
        constraints = self.config.constraints
        broken = []
        for (metric, _, limit), violation in zip(
            constraints.active, constraints.violations(values), strict=True
        ):
            trial.set_constraint(metric, violation)  # TPE learns from these
            if violation > 0:
                broken.append(f"{metric} {values[metric]:.4g} > {limit:.4g}")
        if broken:
            trial.set_user_attr(names.REJECTED_ATTR, "; ".join(broken))
            raise optuna.TrialPruned(f"over the limits: {'; '.join(broken)}")
        return metrics, predicted


def _stopped_trial(trial: Any, stop: Stopped, seconds: float) -> Exception:
    """A student the stopper ended, recorded: its last accuracy as an attribute (a pruned trial
    has no objective values; its costs were recorded before training), how far it trained and
    why it stopped. Returns the TrialPruned that makes it PRUNED."""
    import optuna

    trial.set_user_attr(names.ACCURACY_ATTR, stop.accuracy)
    trial.set_user_attr(names.EPOCHS_ATTR, stop.epoch)
    trial.set_user_attr(names.TRAIN_SECONDS_ATTR, round(seconds, 3))
    trial.set_user_attr(names.STOPPED_ATTR, stop.reason)
    return optuna.TrialPruned(stop.reason)
