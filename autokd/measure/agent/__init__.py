"""`autokd agent`: the latency service that runs on the device a student ships to.

The search sends each student as a file that runs no Python code (ONNX), the agent times it with
autokd's protocol on the runtime the request names and answers with the measurement and the
device's fingerprint. Nothing here imports PyTorch: a board with ONNX Runtime (or OpenVINO),
NumPy, Werkzeug and Waitress runs it (README, "Latency on another device").

- `runtimes.py`: the runtimes a device offers and how each turns a model file into one call;
- `measurer.py`: the measurement in a child process of its own, bounded in time, restarted when
  a model crashes or hangs it;
- `server.py`: the HTTP service (Werkzeug request handling served by Waitress): the token,
  the body limit, one measurement at a time.
"""
