"""What the test apps tell the tests besides HTTP: small files in TEST_MARKER_DIR, written
atomically (a temporary file renamed into place), so a test polling for one never reads it half
written."""

import os
import threading

MARKER_DIR = os.environ.get("TEST_MARKER_DIR", "")


def mark(name, content=""):
    if not MARKER_DIR:
        return
    path = os.path.join(MARKER_DIR, name)
    # One temporary file per thread: requests on several threads of a gthread worker may
    # write the same marker at once.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
