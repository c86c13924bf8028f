"""The distillation engine: loss terms (plain functions of tensors) and the one training loop."""
