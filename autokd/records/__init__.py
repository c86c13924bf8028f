"""What autokd reads and writes: the run folder and its study, summary.json, run.json and the
worker record, the results of `train` and `validate`, the names of a study's attributes, and the
formats underneath them (typed records to and from mappings, strict YAML, parameter forms, the
on-disk cache). Nothing here trains, measures or samples.
"""
