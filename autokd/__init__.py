"""autokd: search the best small student to distil from a teacher, with latency measured on the
hardware the student will run on. The command line is `autokd.cli`; the controller `autokd.search`.
"""

__version__ = "0.1.0"
