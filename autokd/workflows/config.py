"""What the workflows after a search default to (light: the CLI reads these for `--help`)."""

from __future__ import annotations

DEFAULT_FULL_EPOCHS = 30  # `autokd train` and `autokd validate`: a full schedule on the digits
DEFAULT_TOP_K = 5  # `autokd validate`: students retrained, spread along the front
