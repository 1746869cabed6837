# The README's two commands are `make demo` and `make test`; the other
# targets are the steps they are made of.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Molecule and ansible-lint keep their caches inside the project.
export XDG_CACHE_HOME ?= $(CURDIR)/.cache

.PHONY: demo test venv bootstrap provision-test lint unit molecule pytest bench clean

## demo: provision this machine with Docker Engine, build the sandbox image, run a sandbox on examples/sample-project
demo: venv
	aishell-run bootstrap --engine docker
	aishell-run build --engine docker --base-source debootstrap examples/sample-project
	bash examples/demo.sh

## test: provision what the tests need (engines, rootless user, images), then run every test
test: provision-test lint molecule pytest

# The virtual environment carries Ansible with its collections (from PyPI,
# so no Galaxy access is needed), ansible-runner, Molecule and the linters.
venv: $(BIN)/aishell-run
$(BIN)/aishell-run: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

provision-test: venv
	ansible-playbook tests/provision.yml

lint: venv
	ruff check .
	ansible-lint --profile production

# The scenarios are independent test hosts (each its own container and cache): they run side by side,
# each one's output printed whole when it ends.
MOLECULE_SCENARIOS := docker podman wsl2 systemd
molecule: provision-test
	$(MAKE) --no-print-directory --jobs=$(words $(MOLECULE_SCENARIOS)) --output-sync=target \
		$(MOLECULE_SCENARIOS:%=molecule-%)

molecule-%:
	molecule test -s $*

pytest: provision-test
	pytest -q --durations=10 tests

bench: provision-test
	python bench/run.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
