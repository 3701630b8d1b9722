"""What the test apps tell the tests besides HTTP: small files in TEST_MARKER_DIR, written
atomically (a temporary file renamed into place), so a test polling for one never reads it half
written."""

import os

MARKER_DIR = os.environ.get("TEST_MARKER_DIR", "")


def mark(name, content=""):
    if not MARKER_DIR:
        return
    path = os.path.join(MARKER_DIR, name)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
