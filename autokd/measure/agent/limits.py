"""The agent's bounds, in a module of their own: the command line shows them without importing
the HTTP server."""

MAX_BODY_BYTES = 16 << 20  # a student's ONNX file is kilobytes to a few megabytes
CONNECTIONS = 8  # at once; with the body limit, what unauthenticated clients can make it hold
IDLE_SECONDS = 30  # a connection that sends nothing this long is closed
QUEUE_WAIT_SECONDS = 60.0  # a request waits this long for the measurement before it
MEASURE_TIMEOUT_SECONDS = 120.0  # loading the model and the overheads, beyond the protocol's
# own time (warm-up and every attempt's min_run_time: `Measurer.bound`)
MIN_TOKEN_CHARS = 16
MAX_SHAPE_ELEMENTS = 50_000_000  # of the timed batch: 200 MB of float32
PROTOCOL_BOUNDS = {  # the target files' bounds (hardware/README.md, "Fields")
    "threads": (1, 1024),
    "warmup": (0, 1000),
    "min_run_time": (0.01, 60.0),
}
