"""The names autokd stores in an Optuna study: its objectives, the study's own attributes and a
trial's user attributes. Every writer and every reader takes a name from here.
"""

from __future__ import annotations

# A run's study is named after the run; a study.db written before that holds one named this
STUDY_NAME = "autokd"
# The study's objectives, in Optuna's order: accuracy against the two costs of a student, its
# latency on the target and its FLOPs (what it costs on hardware that was not measured).
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("accuracy", "maximize"),
    ("latency_ms", "minimize"),
    ("flops", "minimize"),
)
OBJECTIVE_NAMES = tuple(name for name, _ in OBJECTIVES)
DIRECTIONS = tuple(direction for _, direction in OBJECTIVES)

# --------------------------------------------------------------------------------------------
# The study's attributes

PARAMS_ATTR = "params"  # every parameter the space may sample, with its kind and type
RUN_ATTR = "autokd_run"  # the WorkerRecord: the settings every worker reads
SUMMARY_ATTR = "autokd_summary"  # summary.json, written after a search
# `autokd remeasure`: trial number -> the latency attributes timed again (Optuna keeps a
# finished trial's values as they were; every table autokd builds reads these over them)
REMEASURED_ATTR = "autokd_remeasured"

# --------------------------------------------------------------------------------------------
# A trial's attributes, in the order the search writes them

ARCHITECTURE_ATTR = "architecture"  # the student in one line (`describe()`)
ARCH_HASH_ATTR = "arch_hash"
STUDENT_ATTR = "student"  # TrialRecord: the student's config
KD_ATTR = "kd"  # TrialRecord: the distillation settings
WORKER_ATTR = "worker"  # host:pid of the process running the trial
SURPLUS_ATTR = "surplus"  # closed unrun: the budget was already taken
# What the student costs, measured before it trains (other workers' stoppers compare with them)
LATENCY_ATTR = "latency_ms"
FLOPS_ATTR = "flops"
PARAMS_COUNT_ATTR = "params"
LATENCY_IQR_ATTR = "latency_iqr_ms"
LATENCY_NOISY_ATTR = "latency_noisy"
LATENCY_CONTENDED_ATTR = "latency_contended"
LATENCY_ATTEMPTS_ATTR = "latency_attempts"
LATENCY_BLOCKS_ATTR = "latency_blocks"
LATENCY_PREDICTED_ATTR = "latency_predicted"  # latency_ms is the predictor's (--latency predict)
LATENCY_PREDICTION_ATTR = "latency_prediction_ms"  # what it predicted before any timing
LATENCY_FEATURES_ATTR = "latency_features"  # the student's operators, for the predictor
LATENCY_DEVICE_ATTR = "latency_device"  # where it was timed: `cpu`, `cuda`, `agent URL` (remote)
LATENCY_REMEASURED_ATTR = "latency_remeasured"  # set by `autokd remeasure`, over the first timing
METRICS_CACHED_ATTR = "metrics_cached"
MEASURE_SECONDS_ATTR = "measure_seconds"
REJECTED_ATTR = "rejected_by"  # over a limit: rejected untrained, with the numbers
# How it trained
CURVE_ATTR = "curve"  # validation accuracy after each epoch
ACCURACY_ATTR = "accuracy"  # last accuracy of a stopped trial (a pruned trial has no values)
# A target that quantizes: the objective is the deployed model's accuracy; these stand beside it
ACCURACY_FP32_ATTR = "accuracy_fp32"  # the trained float32 student's, in PyTorch
ACCURACY_DROP_ATTR = "accuracy_drop"  # accuracy_fp32 - accuracy (negative: quantizing helped)
DEPLOY_SECONDS_ATTR = "deploy_seconds"  # converting, calibrating and evaluating the deployed one
STOPPED_ATTR = "stopped_by"  # why the stopper ended it
EPOCHS_ATTR = "epochs_trained"
DIVERGED_ATTR = "diverged"
TRAIN_SECONDS_ATTR = "train_seconds"
DATA_SECONDS_ATTR = "data_seconds"
BEST_ACCURACY_ATTR = "best_val_accuracy"
TRAIN_ATTR = "train"  # TrialRecord: the schedule, once trained
FAIL_ATTR = "fail_reason"  # why it failed (an exception, out of memory, divergence)
STOPPED_WORKER_ATTR = "worker_stopped"  # failed because its worker stopped, not the student

# System attributes of the NNI samplers
NNI_PROPOSAL_ATTR = "autokd:nni_proposal"  # the tuner's full proposal
NNI_SCALAR_ATTR = "autokd:nni_scalar"  # the trial's scalarised value
