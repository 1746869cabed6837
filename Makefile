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

.PHONY: demo test venv bootstrap provision-test lint unit molecule molecule-all pytest stream-root stream-other bench clean

## demo: provision this machine with Docker Engine, build the sandbox image, run a sandbox on examples/sample-project
demo: venv
	aishell-run bootstrap --engine docker
	aishell-run build --engine docker --base-source debootstrap examples/sample-project
	bash examples/demo.sh

## test: provision what the tests need (engines, rootless user, images), then run every test
# Two streams side by side, each running its parts one after the other and printing each part whole when it
# ends: one Molecule scenario and root's engines; the other scenarios, the unit tests, the rootless user's
# Podman and the fleet's hosts (test lanes share no state: tests/conftest.py, LANES). The host lane
# re-provisions this machine and takes its engines apart, so it runs alone, last. CI's machines have 2 cores,
# busy all through the streams: more streams only shared them (all eight parts at once took longer than one
# stream), and the streams are split to end together (measured on a fresh machine: the systemd scenario's 4
# minutes, the wsl2 scenario's 1.5 and root's lane's 21.5 beside the other stream's 27 without wsl2). The linters
# need no engine: they run beside provisioning.
test: venv
	$(MAKE) --no-print-directory --jobs=2 provision-test lint
	$(MAKE) --no-print-directory --keep-going --jobs=2 stream-root stream-other
	$(MAKE) --no-print-directory pytest-host

stream-root:
	$(MAKE) --no-print-directory --keep-going --jobs=1 --output-sync=target molecule-systemd molecule-wsl2 \
		pytest-root

stream-other:
	$(MAKE) --no-print-directory --keep-going --jobs=1 --output-sync=target MOLECULE_JOBS=2 \
		MOLECULE_SCENARIOS="$(filter-out systemd wsl2,$(MOLECULE_SCENARIOS))" molecule-all \
		pytest-unit pytest-rootless pytest-fleet

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

# The scenarios are independent test hosts (each its own container and cache): they run side by side.
MOLECULE_SCENARIOS := docker podman wsl2 systemd
MOLECULE_JOBS ?= $(words $(MOLECULE_SCENARIOS))

molecule: provision-test molecule-all

molecule-all:
	$(MAKE) --no-print-directory --keep-going --jobs=$(MOLECULE_JOBS) --output-sync=target \
		$(MOLECULE_SCENARIOS:%=molecule-%)

molecule-%:
	molecule test -s $*

pytest: provision-test
	$(MAKE) --no-print-directory --keep-going --jobs=1 --output-sync=target pytest-unit pytest-root \
		pytest-rootless pytest-fleet pytest-host

# One lane's tests, its slowest listed (the targets above provision first; these do not).
pytest-%:
	pytest -q --durations=10 --lane=$* $(PYTEST_FLAGS) tests

bench: provision-test
	python bench/run.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
