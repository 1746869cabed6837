"""Shared test set-up."""

import os
import sys
from pathlib import Path

# ansible-runner starts `ansible-playbook` by name: make the one installed
# beside this interpreter (the project's virtual environment) the one found.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
