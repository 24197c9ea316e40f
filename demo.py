#!/usr/bin/env python3
"""pixseek demo: builds (or reuses) a sample gallery of real photos, indexes it, opens the web UI.

    python demo.py            # then open http://127.0.0.1:7860
    python demo.py --help

Works offline: without the CLIP weights it searches by example with EfficientNet-Lite0 and says
what text search needs. The steps live in src/pixseek/demo.py.
"""

import os
import sys

_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
if os.path.isdir(os.path.join(_SRC, "pixseek")):  # a checkout: use its code, installed or not
    sys.path.insert(0, _SRC)

from pixseek.demo import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
